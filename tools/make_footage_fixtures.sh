#!/usr/bin/env bash
# The "real footage" fixtures of issue 12, made from one unseen GRID speaker (mixed/lbax4n, s5:
# never trained on) with the ffmpeg CLI: each is a kind of footage users bring that GRID is not.
# Every file keeps its own, in-sync audio, so `detect` must say in-sync (or name the speaker).
# Re-run only to change fixtures; the outputs are committed (fixtures/media/footage, ~0.5 MB).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fixtures/media/footage"
shared="${SHARED_DATA:-$root/../shared/data}"
src="$shared/grid/mixed/lbax4n.mpg"
other="$shared/grid/mixed/lbbc2a.mpg"   # GRID s22, silent from 2.06 s to the end
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
aac=(-c:a aac -b:a 48k)

# Black and white, heavily compressed (CRF 40, a quarter of the pixels).
ff -i "$src" -vf "format=gray,scale=180:144,format=yuv420p" -c:v libx264 -preset veryfast -crf 40 "${aac[@]}" "$out/bw_compressed.mp4"
# 224 x 224 with the face filling the frame (an interview crop).
ff -i "$src" -vf "crop=180:180:98:80,scale=224:224" -c:v libx264 -preset veryfast -crf 30 "${aac[@]}" "$out/face_224p.mp4"
# 1080 x 1920 portrait HEVC (a phone held upright): the face is a small part of the picture.
ff -i "$src" -vf "scale=540:432,pad=1080:1920:270:700:color=0x303840" -c:v libx265 -preset veryfast -crf 32 -tag:v hvc1 \
   -x265-params log-level=error "${aac[@]}" "$out/portrait_1080x1920_hevc.mp4"
# A hand over the mouth for one second (1.0-2.0 s).
ff -i "$src" -vf "drawbox=x=150:y=170:w=95:h=70:color=0xC89878:t=fill:enable='between(t,1,2)'" \
   -c:v libx264 -preset veryfast -crf 30 "${aac[@]}" "$out/mouth_occluded_1s.mp4"
# Variable frame rate averaging 22 fps: one frame in eight dropped, timestamps kept.
ff -i "$src" -vf "select='not(eq(mod(n\,8)\,3))'" -fps_mode vfr -c:v libx264 -preset veryfast -crf 30 "${aac[@]}" "$out/vfr_22fps.mp4"
# Two people: s5 speaking (left, its own audio) beside s22 listening in silence (right: her last
# 0.84 s, after she stopped speaking, played forwards and backwards to last 3 s).
ff -i "$src" -i "$other" -filter_complex \
   "[1:v]trim=start=2.1:end=2.94,setpts=PTS-STARTPTS,split=3[f1][f2][r0];[r0]reverse,split[r1][r2];[f1][r1][f2][r2]concat=n=4:v=1:a=0,trim=end=3,setpts=PTS-STARTPTS[listener];[0:v][listener]hstack=shortest=1[v]" \
   -map "[v]" -map 0:a -c:v libx264 -preset veryfast -crf 30 "${aac[@]}" "$out/two_people_one_speaking.mp4"
ls -la "$out"
