#!/usr/bin/env bash
# Starts a single-node Slurm on this machine (Debian's slurm-wlm and munge, installed if missing),
# runs `lipsync offset` over a folder as a 2-task job array with --shard, merges the shards' JSONL
# and checks that every media file has exactly one record. Not part of CI: it installs daemons and
# needs root. Usage: tools/slurm_smoke.sh [DIR] [OUTDIR]   (defaults: ../shared/data, runs/slurm-smoke)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$(cd "${1:-$root/../shared/data}" && pwd)"
out="${2:-$root/runs/slurm-smoke}"
bin="$root/.build/release/lipsync"
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge
fi

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
chmod 400 /etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
cat > "$conf" <<EOF
ClusterName=lipsync-smoke
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=smoke Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
pgrep -x munged >/dev/null || runuser -u munge -- munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc" && break; sleep 1; done
sinfo

rm -rf "$out"; mkdir -p "$out"
cat > "$out/array.sh" <<EOF
#!/bin/bash
#SBATCH --array=0-1
#SBATCH --cpus-per-task=1
#SBATCH --output=$out/task-%a.log
"$bin" offset "$data" --shard "\$SLURM_ARRAY_TASK_ID/\$SLURM_ARRAY_TASK_COUNT" \\
  --jsonl "$out/shard-\$SLURM_ARRAY_TASK_ID.jsonl" --resume
EOF
started=$(date +%s)
sbatch --wait "$out/array.sh" || true   # the tasks exit 20 when some file failed; the records say which
elapsed=$(( $(date +%s) - started ))

cat "$out"/shard-*.jsonl > "$out/merged.jsonl"
# The record's own "file" (the model's is nested), one per line.
sed -E 's/^\{.*"file":"([^"]*)","file_mtime".*$/\1/' "$out/merged.jsonl" | sort > "$out/files.txt"
expected=$(find "$data" -type f ! -name '.*' | grep -ciE '\.(mp4|mov|m4v|mkv|webm|avi|mpg|mpeg|ts|mts|m2ts|flv|wmv|3gp|mxf|ogv|dv)$')
records=$(wc -l < "$out/files.txt")
dupes=$(uniq -d "$out/files.txt" | wc -l)
failed=$(grep -c '"error"' "$out/merged.jsonl" || true)
echo "array of 2 tasks over $data: $elapsed s; $records records for $expected media files; $dupes duplicates; $failed failure records"
for k in 0 1; do echo "task $k: $(wc -l < "$out/shard-$k.jsonl") records; $(tail -1 "$out/task-$k.log")"; done
[ "$records" -eq "$expected" ] && [ "$dupes" -eq 0 ] && echo "OK: the shards are disjoint and cover every file" || { echo "FAILED" >&2; exit 1; }
