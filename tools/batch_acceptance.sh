#!/usr/bin/env bash
# Issue 14's batch acceptance on a folder (default ../shared/data): a full `offset --jsonl --jobs 2`
# run; the same run killed half way and finished with --resume (no file scored twice); three
# --shard runs merged. Checks that all three give the same set of records (file, error code, each
# track's integer delay). Needs jq. Usage: tools/batch_acceptance.sh [DIR] [OUTDIR]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/data}"
out="${2:-$root/runs/batch-acceptance}"
bin="$root/.build/release/lipsync"
mkdir -p "$out"; rm -f "$out"/*.jsonl
key() { jq -c '[.file, (.error.code // 0), [.tracks[]? | .audio_delay_frames]]' "$@" | sort; }

t0=$(date +%s.%N)
"$bin" offset "$data" --jsonl "$out/full.jsonl" --jobs 2 --quiet 2> "$out/full.err"; echo "full run: exit $?"
t1=$(date +%s.%N)
n=$(wc -l < "$out/full.jsonl")
echo "full run: $n records in $(echo "$t1 - $t0" | bc) s; $(tail -1 "$out/full.err")"

# Killed half way (by time: half the full run's wall time), then resumed.
half=$(echo "($t1 - $t0) / 2" | bc)
timeout -s INT "$half" "$bin" offset "$data" --jsonl "$out/resumed.jsonl" --jobs 2 --quiet 2> "$out/killed.err"
before=$(wc -l < "$out/resumed.jsonl")
"$bin" offset "$data" --jsonl "$out/resumed.jsonl" --jobs 2 --resume --quiet 2> "$out/resumed.err"
after=$(wc -l < "$out/resumed.jsonl")
dupes=$(jq -r .file "$out/resumed.jsonl" | sort | uniq -d | wc -l)
echo "killed after ${half} s with $before records; resumed to $after records; files scored twice: $dupes"
grep "already have" "$out/resumed.err" || true

for k in 0 1 2; do "$bin" offset "$data" --shard "$k/3" --jsonl "$out/shard-$k.jsonl" --jobs 2 --quiet 2>/dev/null; done
cat "$out"/shard-?.jsonl > "$out/shards.jsonl"
echo "shards: $(wc -l < "$out"/shard-0.jsonl) + $(wc -l < "$out"/shard-1.jsonl) + $(wc -l < "$out"/shard-2.jsonl) records"

key "$out/full.jsonl" > "$out/full.keys"
key "$out/resumed.jsonl" > "$out/resumed.keys"
key "$out/shards.jsonl" > "$out/shards.keys"
ok=1
cmp -s "$out/full.keys" "$out/resumed.keys" && echo "resumed run = full run" || { echo "resumed run differs from the full run"; ok=0; }
cmp -s "$out/full.keys" "$out/shards.keys" && echo "merged shards = full run" || { echo "merged shards differ from the full run"; ok=0; }
[ "$dupes" -eq 0 ] || ok=0
[ $ok -eq 1 ] && echo OK || { echo FAILED; exit 1; }
