#!/usr/bin/env bash
# Runs `lipsync offset` and `lipsync detect` on every clip of ../shared/data (grid/s4-more's .mkv
# included) as two batches, and on copies of a few held-out (GRID s1) and unseen (other speakers,
# CREMA-D) clips whose audio was delayed 200 ms with ffmpeg; prints a summary (needs jq).
# Usage: tools/run_shared_data.sh [OUTDIR]   (default: runs/shared-data)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_DATA:-$root/../shared/data}"
out="${1:-$root/runs/shared-data}"
bin="$root/.build/release/lipsync"
mkdir -p "$out/delayed"
rm -f "$out/offset.jsonl" "$out/detect.jsonl"
# Batches exit 20 when a file failed and (detect) 21 when some verdict is not in-sync; both are
# summarised below from the records, so only a batch that could not run at all stops the script.
"$bin" offset "$shared" --jsonl "$out/offset.jsonl" --jobs 2 --quiet > /dev/null 2> "$out/offset.err"; oc=$?
"$bin" detect "$shared" --jsonl "$out/detect.jsonl" --jobs 2 --quiet > /dev/null 2> "$out/detect.err"; dc=$?
case $oc in 0|20) ;; *) echo "offset batch did not run ($oc): $(tail -1 "$out/offset.err")"; exit 1 ;; esac
case $dc in 0|20|21) ;; *) echo "detect batch did not run ($dc): $(tail -1 "$out/detect.err")"; exit 1 ;; esac

media=$(find "$shared" -type f \( -name '*.mpg' -o -name '*.flv' -o -name '*.mkv' -o -name '*.mp4' \) | wc -l)
failures=$(jq -s '[.[] | select(.error != null and .error.code != 68)] | length' "$out/offset.jsonl" "$out/detect.jsonl")
echo "clips: $media media files, $(wc -l < "$out/offset.jsonl") offset and $(wc -l < "$out/detect.jsonl") detect records, failures: $failures"
echo "offset errors by code (68: no face track of 1 s):"; jq -r '.error.code // "none"' "$out/offset.jsonl" | sort | uniq -c
echo "offset frames, longest track (0 = in sync; every clip is in sync in reality):"
jq -r '(.tracks | max_by(.end_frame - .start_frame) | .audio_delay_frames) // "-"' "$out/offset.jsonl" | sort -n | uniq -c
echo "detect verdicts:"; jq -r '.verdict // ("error " + (.error.code | tostring))' "$out/detect.jsonl" | sort | uniq -c
echo "not in-sync:"; jq -r 'select(.verdict != "in-sync") | "  \(.file | sub(".*/data/"; "")): \(.verdict // .error.message)"' "$out/detect.jsonl"

echo "200 ms delayed copies (ffmpeg -itsoffset 0.2):"
for rel in grid/s1/bbaz5s.mpg grid/s1/bbie8n.mpg grid/mixed/lbax4n.mpg grid/mixed/pwij3p.mpg grid/s4/bbilzs.mpg crema-d/1001/1001_DFA_ANG_XX.flv; do
  src="$shared/$rel"
  [ -f "$src" ] || continue
  dst="$out/delayed/$(echo "$rel" | tr '/' '_').late200.mp4"
  ffmpeg -hide_banner -loglevel error -nostdin -y -i "$src" -itsoffset 0.2 -i "$src" -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 96k "$dst"
  printf '  %-32s offset: %s | detect: %s\n' "$rel" "$("$bin" offset "$dst" 2>/dev/null | head -1)" "$("$bin" detect "$dst" 2>/dev/null | tail -1 | sed 's/.*: //')"
done
[ "$failures" = 0 ]
