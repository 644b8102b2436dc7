#!/usr/bin/env bash
# Still frames for the face parity tests (fixtures/faces/*.jpg), from ../shared/data and ffmpeg's test
# sources: several GRID speakers (360x288 and 720x576), CREMA-D (480x360), a 224p downscale, a frame
# with no face and one with two faces.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
d="${SHARED_DATA:-$root/../shared/data}"
out="$root/fixtures/faces"
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
grab() { ff -ss "$2" -i "$1" -frames:v 1 -q:v 3 "$out/$3"; }
grab "$d/grid/s1/bbaf2n.mpg" 1.2 grid_s1.jpg
grab "$d/grid/mixed/lbax4n.mpg" 1.0 grid_s5.jpg
grab "$d/grid/mixed/lbbc2a.mpg" 1.5 grid_s22.jpg
grab "$d/grid/mixed/sbwe5n.mpg" 0.5 grid_s32.jpg
grab "$d/grid/s14/lrwq7p.mpg" 1.0 grid_s14.jpg
grab "$(ls "$d"/grid/s4/*.mpg | head -1)" 1.0 grid_s4_576p.jpg
grab "$(ls "$d"/grid/unidentified/*.mpg | head -1)" 2.0 grid_unidentified.jpg
grab "$d/crema-d/1001/1001_DFA_ANG_XX.flv" 1.0 cremad_ang.jpg
grab "$d/crema-d/1001/1001_DFA_HAP_XX.flv" 0.6 cremad_hap.jpg
ff -ss 1.0 -i "$d/crema-d/1001/1001_DFA_SAD_XX.flv" -frames:v 1 -vf scale=298:224 -q:v 3 "$out/cremad_224p.jpg"
ff -f lavfi -i "testsrc=s=320x240:d=1" -frames:v 1 -q:v 3 "$out/no_face.jpg"
ff -ss 1.0 -i "$d/grid/mixed/brbk7n.mpg" -ss 1.0 -i "$d/grid/mixed/pwij3p.mpg" \
   -filter_complex "[0:v][1:v]hstack" -frames:v 1 -q:v 3 "$out/two_faces.jpg"
ls -la "$out"; du -sh "$out"
