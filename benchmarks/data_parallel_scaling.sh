#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same training run (same config, same global batch)
# as 1 process with T threads and as 2 processes with T/2 threads each, and the time of each.
#   benchmarks/data_parallel_scaling.sh DATASET [CONFIG] [STEPS] [THREADS]
# (defaults: configs/points-small-cpu.json, 20 steps, 2 threads). Prints a table.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
cli=${SHAPEDIFF:-$here/build/apps/shapediff}
data=$1 config=${2:-$here/configs/points-small-cpu.json} steps=${3:-20} threads=${4:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=passive
run() {  # procs threads_per_proc
  local start end
  start=$(date +%s.%N)
  "$cli" train --config "$config" --data "$data" --out "$work/run-$1" --steps "$steps" \
    --threads "$2" --nproc "$1" >"$work/log-$1" 2>&1
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.1f}')"
}
one=$(run 1 "$threads")
two=$(run 2 $(( threads / 2 > 0 ? threads / 2 : 1 )))
echo "| processes | threads each | $steps steps, wall s (start-up included) | steps/s |"
echo "|---:|---:|---:|---:|"
python3 - "$one" "$two" "$steps" "$threads" <<'PY'
import sys
one, two, steps, threads = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"| 1 | {threads} | {one:.1f} | {steps / one:.2f} |")
print(f"| 2 | {max(threads // 2, 1)} | {two:.1f} | {steps / two:.2f} |")
print(f"speed-up of 2 processes: {one / two:.2f}x")
PY
python3 - "$work/run-2/log.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "allreduce_ms" in r and r.get("it_per_s")][1:]  # skip the first step
if rows:
    comm = sum(r["allreduce_ms"] for r in rows) / len(rows)
    step = sum(1000.0 / r["it_per_s"] for r in rows) / len(rows)
    print(f"2 processes: gradient all-reduce {comm:.1f} ms of a {step:.0f} ms step ({100 * comm / step:.1f}%)")
PY
