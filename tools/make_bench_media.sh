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
# 20 s of 360p H.264 + AAC (the first 20 s of grid720.mp4) for the 360p offset benchmark.
if [ ! -f "$out/grid360.mp4" ]; then
  ff -i "$out/grid720.mp4" -t 20 -vf scale=640:360 -c:v libx264 -preset medium -crf 23 -c:a aac -b:a 96k "$out/grid360.mp4"
fi
# 20 s of 1080p H.264 + AAC (the first 20 s of grid720.mp4, upscaled) for the 1080p generate benchmark.
if [ ! -f "$out/grid1080.mp4" ]; then
  ff -i "$out/grid720.mp4" -t 20 -vf scale=1920:1080 -c:v libx264 -preset medium -crf 20 -c:a aac -b:a 128k "$out/grid1080.mp4"
fi
# 10 minutes of talking faces for the offset memory run: 200 GRID s1 clips concatenated (360x288).
if [ ! -f "$out/long_talk.mp4" ]; then
  ls "$shared"/grid/s1/*.mpg | head -200 | sed "s/^/file '/; s/$/'/" > "$out/s1_200.txt"
  ff -f concat -safe 0 -i "$out/s1_200.txt" -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 64k "$out/long_talk.mp4"
fi
ls -la "$out"
