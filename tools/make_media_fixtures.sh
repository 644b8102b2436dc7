#!/usr/bin/env bash
# Generates the small media fixtures in fixtures/media with the ffmpeg CLI.
# Sync markers: a white frame at exactly t = 1.000 s and a 1 kHz beep starting at exactly t = 1.000 s.
# Re-run only to change fixtures; the outputs are committed.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/fixtures/media"
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

# Black 160x120 picture with one white frame covering [1.00, 1.04).
flash="color=c=black:s=160x120:r=25:d=2,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='gte(t,1)*lt(t,1.04)',format=yuv420p"
beep48="aevalsrc='0.5*sin(2*PI*1000*t)*gte(t,1)*lt(t,1.5)':s=48000:d=2"
beep44="aevalsrc='0.5*sin(2*PI*1000*t)*gte(t,1)*lt(t,1.5)':s=44100:d=2"

ff -f lavfi -i "$flash" -f lavfi -i "$beep48" -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 64k -movflags +faststart "$out/sync_h264_aac.mp4"
ff -f lavfi -i "$flash" -f lavfi -i "$beep48" -c:v libx264 -preset veryfast -crf 30 -c:a pcm_s16le "$out/sync_h264_pcm.mkv"
ff -f lavfi -i "$flash" -f lavfi -i "$beep44" -c:v mpeg1video -q:v 8 -c:a mp2 -b:a 128k -f mpeg "$out/sync_mpeg1_mp2.mpg"
ff -f lavfi -i "$flash" -f lavfi -i "$beep48" -c:v libvpx-vp9 -b:v 100k -c:a libopus -b:a 48k "$out/sync_vp9_opus.webm"
ff -f lavfi -i "$flash" -f lavfi -i "$beep44" -c:v mpeg4 -q:v 8 -c:a libmp3lame -b:a 64k "$out/sync_mpeg4_mp3.avi"
ff -f lavfi -i "$flash" -f lavfi -i "$beep44" -c:v flv -q:v 8 -c:a libmp3lame -b:a 64k "$out/sync_flv_mp3.flv"

# Audio 200 ms late: the audio stream's timestamps start at 0.2 s (container start offset / edit list).
ff -f lavfi -i "$flash" -itsoffset 0.2 -f lavfi -i "$beep48" -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 64k -movflags +faststart "$out/delay200_h264_aac.mp4"
ff -f lavfi -i "$flash" -itsoffset 0.2 -f lavfi -i "$beep48" -c:v libx264 -preset veryfast -crf 30 -c:a pcm_s16le "$out/delay200_h264_pcm.mkv"
ff -f lavfi -i "$flash" -f lavfi -i "$beep44" -af "adelay=200" -c:v mpeg1video -q:v 8 -c:a mp2 -b:a 128k -f mpeg "$out/delay200_mpeg1_mp2.mpg"

# Variable frame rate: 30 fps for the first second, 15 fps after; white frame at t = 1.400 s.
ff -f lavfi -i "color=c=black:s=160x120:r=30:d=2,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='gte(t,1.39)*lt(t,1.42)',select='lt(n\,30)+not(mod(n\,2))',format=yuv420p" \
   -fps_mode vfr -c:v libx264 -preset veryfast -crf 30 "$out/vfr.mp4"

# Rotated: 160x90 coded, red square at the top-left, display matrix says rotate 90 degrees clockwise.
ff -f lavfi -i "color=c=gray:s=160x90:r=25:d=0.4,drawbox=x=0:y=0:w=20:h=20:color=red:t=fill,format=yuv420p" \
   -c:v libx264 -preset veryfast -crf 20 "$out/.unrotated.mp4"
ff -i "$out/.unrotated.mp4" -c copy -metadata:s:v:0 rotate=90 "$out/rotated90.mp4"
rm -f "$out/.unrotated.mp4"

# Stills, an audio-only file, a video-only file and a file that is not media.
ff -f lavfi -i "testsrc=s=64x48:d=1" -frames:v 1 "$out/still.png"
ff -f lavfi -i "testsrc=s=64x48:d=1" -frames:v 1 "$out/still.jpg"
ff -f lavfi -i "$beep48" -c:a pcm_s16le "$out/audio_only.wav"
ff -f lavfi -i "$flash" -c:v libx264 -preset veryfast -crf 30 "$out/video_only.mp4"
printf 'this is not a video\n' > "$out/not_media.mp4"
ls -la "$out"

# Faces: frames 20-69 of a GRID speaker (exactly 50, cut by frame number: seeking in MPEG-PS is
# inexact), and frames 20-44 of two speakers joined, so the hard cut is at frame 25.
shared="${SHARED_DATA:-$out/../../../shared/data}"
ff -i "$shared/grid/s1/bbaf2n.mpg" -filter_complex "[0:v]trim=start_frame=20:end_frame=70,setpts=PTS-STARTPTS[v];[0:a]atrim=start=0.8:end=2.8,asetpts=PTS-STARTPTS[a]" \
   -map "[v]" -map "[a]" -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/grid_face.mp4"
ff -i "$shared/grid/s1/bbaf2n.mpg" -i "$shared/grid/mixed/lbbc2a.mpg" \
   -filter_complex "[0:v]trim=start_frame=20:end_frame=45,setpts=PTS-STARTPTS[a];[1:v]trim=start_frame=20:end_frame=45,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1:a=0[v]" \
   -map "[v]" -an -c:v libx264 -preset veryfast -crf 30 "$out/scene_cut.mp4"
# The whole 3 s GRID clip, in sync and with its audio 200 ms late (for the offset sign convention).
ff -i "$shared/grid/s1/bbaf2n.mpg" -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/grid_talk.mp4"
ff -i "$shared/grid/s1/bbaf2n.mpg" -itsoffset 0.2 -i "$shared/grid/s1/bbaf2n.mpg" -map 0:v -map 1:a \
   -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/grid_talk_audio_late200.mp4"
# A talking face with a silent audio track (the no-speech verdict).
ff -i "$out/grid_face.mp4" -f lavfi -i "anullsrc=r=48000:cl=mono" -map 0:v -map 1:a -c:v copy -c:a aac -shortest "$out/grid_face_silent.mp4"
# Unseen speakers (never trained on; docs/data-split.tsv) with audio 200 ms late, for the learned
# model's tests: GRID s5 at 25 fps, and the same clip converted to 30 fps (a non-25 fps grid:
# 200 ms is 6 frames there).
ff -i "$shared/grid/mixed/lbax4n.mpg" -itsoffset 0.2 -i "$shared/grid/mixed/lbax4n.mpg" -map 0:v -map 1:a \
   -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/unseen_talk_audio_late200.mp4"
ff -i "$shared/grid/mixed/lbax4n.mpg" -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/unseen_talk.mp4"
ff -i "$shared/grid/mixed/lbax4n.mpg" -itsoffset 0.2 -i "$shared/grid/mixed/lbax4n.mpg" -map 0:v -map 1:a \
   -vf fps=30 -c:v libx264 -preset veryfast -crf 30 -c:a aac -b:a 48k "$out/unseen_talk_30fps_audio_late200.mp4"
