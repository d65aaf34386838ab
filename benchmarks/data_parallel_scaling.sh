#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same training run (same config, same global batch)
# as 1 process with T threads and as 2 processes with T/2 threads each, the latter with the
# gradient all-reduce overlapped with the backward pass (the default) and after it (--dist-sync),
# and the time of each, with the all-reduce time each step waits for ("exposed").
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
run() {  # procs threads_per_proc name [extra options]
  local start end
  start=$(date +%s.%N)
  "$cli" train --config "$config" --data "$data" --out "$work/run-$3" --steps "$steps" \
    --threads "$2" --nproc "$1" "${@:4}" >"$work/log-$3" 2>&1
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.1f}')"
}
half=$(( threads / 2 > 0 ? threads / 2 : 1 ))
one=$(run 1 "$threads" one)
two=$(run 2 "$half" two)
sync=$(run 2 "$half" sync --dist-sync)
echo "| processes | threads each | all-reduce | $steps steps, wall s (start-up included) | steps/s |"
echo "|---:|---:|---|---:|---:|"
python3 - "$one" "$two" "$sync" "$steps" "$threads" <<'PY'
import sys
one, two, sync, steps, threads = map(float, sys.argv[1:6])
half = max(int(threads) // 2, 1)
print(f"| 1 | {int(threads)} | - | {one:.1f} | {steps / one:.2f} |")
print(f"| 2 | {half} | overlapped with backward | {two:.1f} | {steps / two:.2f} |")
print(f"| 2 | {half} | after backward (--dist-sync) | {sync:.1f} | {steps / sync:.2f} |")
print(f"speed-up of 2 processes: {one / two:.2f}x overlapped, {one / sync:.2f}x after backward")
PY
for name in two sync; do
  python3 - "$work/run-$name/log.jsonl" "$name" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "allreduce_ms" in r and r.get("it_per_s")][1:]  # skip the first step
how = {"two": "overlapped", "sync": "after backward"}[sys.argv[2]]
if rows:
    comm = sum(r["allreduce_ms"] for r in rows) / len(rows)
    step = sum(1000.0 / r["it_per_s"] for r in rows) / len(rows)
    print(f"2 processes, all-reduce {how}: exposed all-reduce {comm:.1f} ms of a {step:.0f} ms step ({100 * comm / step:.1f}%)")
PY
done
