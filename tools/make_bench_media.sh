#!/usr/bin/env bash
# Builds the (uncommitted) benchmark inputs in bench-data/ from ../shared/data and ffmpeg's test sources.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_DATA:-$root/../shared/data}"
out="$root/bench-data"
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# 720p H.264 + AAC, 60 s of real faces: the 20 high-quality GRID s4 clips, upscaled.
if [ ! -f "$out/grid720.mp4" ]; then
  ls "$shared"/grid/s4/*.mpg | sed "s/^/file '/; s/$/'/" > "$out/s4.txt"
  ff -f concat -safe 0 -i "$out/s4.txt" -vf scale=1280:720 -c:v libx264 -preset medium -crf 20 \
     -c:a aac -b:a 128k -movflags +faststart "$out/grid720.mp4"
fi
# 10 minutes of 1080p H.264 for the memory check.
if [ ! -f "$out/long1080.mp4" ]; then
  ff -f lavfi -i "testsrc2=s=1920x1080:r=25:d=600" -f lavfi -i "sine=f=440:d=600" \
     -c:v libx264 -preset ultrafast -crf 30 -c:a aac "$out/long1080.mp4"
fi
ls -la "$out"
