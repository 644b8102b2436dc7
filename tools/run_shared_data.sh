#!/usr/bin/env bash
# Runs `lipsync offset` and `lipsync detect` on every clip of ../shared/data and on copies of a few
# held-out (GRID s1) and unseen (other speakers, CREMA-D) clips whose audio was delayed 200 ms with ffmpeg; prints a summary.
# Usage: tools/run_shared_data.sh [OUTDIR]   (default: runs/shared-data)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_DATA:-$root/../shared/data}"
out="${1:-$root/runs/shared-data}"
bin="$root/.build/release/lipsync"
mkdir -p "$out/delayed"
: > "$out/offset.tsv"
: > "$out/detect.tsv"
errors=0
while IFS= read -r f; do
  rel="${f#"$shared"/}"
  o=$("$bin" offset "$f" --json 2>>"$out/stderr.log"); oc=$?
  d=$("$bin" detect "$f" 2>>"$out/stderr.log" | tail -1); dc=$?
  frames=$(printf '%s' "$o" | grep -m1 '"audio_delay_frames"' | tr -dc '0-9-')
  # The record's first "method" is the one asked for; the track's (second) is the one used.
  method=$(printf '%s' "$o" | grep '"method"' | sed -n 2p | sed 's/.*: "\(.*\)".*/\1/')
  printf '%s\t%s\t%s\t%s\n' "$rel" "$oc" "$frames" "$method" >> "$out/offset.tsv"
  printf '%s\t%s\t%s\n' "$rel" "$dc" "${d##*: }" >> "$out/detect.tsv"
  case $oc in 0|68) ;; *) errors=$((errors + 1)); echo "offset failed ($oc): $rel" ;; esac
  case $dc in 0|10|11|12|13) ;; *) errors=$((errors + 1)); echo "detect failed ($dc): $rel" ;; esac
done < <(find "$shared" -type f \( -name '*.mpg' -o -name '*.flv' \) | sort)

echo "clips: $(wc -l < "$out/offset.tsv"), failures: $errors"
echo "offset exit codes:"; cut -f2 "$out/offset.tsv" | sort | uniq -c
echo "offset frames (0 = in sync; every clip is in sync in reality):"; cut -f3 "$out/offset.tsv" | sort -n | uniq -c
echo "detect verdicts:"; cut -f3 "$out/detect.tsv" | sort | uniq -c

echo "200 ms delayed copies (ffmpeg -itsoffset 0.2):"
for rel in grid/s1/bbaz5s.mpg grid/s1/bbie8n.mpg grid/mixed/lbax4n.mpg grid/mixed/pwij3p.mpg grid/s4/bbilzs.mpg crema-d/1001/1001_DFA_ANG_XX.flv; do
  src="$shared/$rel"
  [ -f "$src" ] || continue
  dst="$out/delayed/$(echo "$rel" | tr '/' '_').late200.mp4"
  ffmpeg -hide_banner -loglevel error -nostdin -y -i "$src" -itsoffset 0.2 -i "$src" -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 96k "$dst"
  printf '  %-32s offset: %s | detect: %s\n' "$rel" "$("$bin" offset "$dst" 2>/dev/null | head -1)" "$("$bin" detect "$dst" 2>/dev/null | tail -1 | sed 's/.*: //')"
done
