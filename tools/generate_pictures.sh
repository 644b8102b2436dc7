#!/usr/bin/env bash
# Remakes docs/generate_example.mp4 (input | output) and docs/generate_strip.png (real | generated |
# 4x difference, frames 20, 40, 60) with the shipped generator: GRID s5 (never trained on) dubbed with
# an s2 sentence. Needs ffmpeg. Usage: tools/generate_pictures.sh [SHARED_DATA]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data}"
bin="$root/.build/release/lipsync"
work="$root/runs/pictures"; mkdir -p "$work"
src="$data/grid/mixed/lbax4n.mpg"
"$bin" generate "$src" --audio "$data/grid/mixed/pwij3p.mpg" -o "$work/dub.mp4" --compare "$root/docs/generate_example.mp4"
pick="select='eq(n\,20)+eq(n\,40)+eq(n\,60)',scale=180:144,format=rgb24,setpts=N/TB"
ffmpeg -hide_banner -loglevel error -y -i "$src" -i "$work/dub.mp4" -filter_complex \
  "[0:v]$pick,split[a1][a2];[1:v]$pick,split[b1][b2];[a2][b2]blend=all_mode=difference,lutrgb=r='min(val*4,255)':g='min(val*4,255)':b='min(val*4,255)'[d];[a1][b1][d]hstack=3,tile=1x3" \
  -frames:v 1 "$root/docs/generate_strip.png"
ls -la "$root/docs/generate_example.mp4" "$root/docs/generate_strip.png"
