#!/usr/bin/env bash
# Writes `lipsync offset --json` and `lipsync detect --json` of every clip of ../shared/data to
# OUTDIR/<clip>.offset.json / .detect.json, so two builds can be compared byte for byte
# (`diff -r before after`). Usage: tools/offset_json_all.sh OUTDIR [BINARY]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_DATA:-$root/../shared/data}"
out="$1"; bin="${2:-$root/.build/release/lipsync}"
mkdir -p "$out"
while IFS= read -r f; do
  name="$(echo "${f#"$shared"/}" | tr '/' '_')"
  LIPSYNC_MODELS="$root/Models" "$bin" offset "$f" --json > "$out/$name.offset.json" 2>/dev/null; echo "exit $?" >> "$out/$name.offset.json"
  LIPSYNC_MODELS="$root/Models" "$bin" detect "$f" --json > "$out/$name.detect.json" 2>/dev/null; echo "exit $?" >> "$out/$name.detect.json"
done < <(find "$shared" -type f \( -name '*.mpg' -o -name '*.flv' \) | sort)
