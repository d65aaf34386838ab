#!/usr/bin/env bash
# Per-category evaluation of a class-conditional point model against a dataset split: for each
# category, `shapediff sample` as many shapes as the split holds for it (or --count), then
# `shapediff eval` against that category, and a table of 1-NNA, COV and MMD (CD and EMD) + JSD.
#   scripts/eval_point_model.sh MODEL DATASET OUT [--split test] [--count N] [--sampler S]
#                               [--steps K] [--guidance W] [--seed S] [--threads T]
#                               [--metrics cd,emd,jsd]
# Writes OUT/<category>/{samples.npz,eval.json,...} and OUT/summary.json.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model=$1 data=$2 out=$3
shift 3
split=test count=0 sampler=ddpm steps=100 guidance=1 seed=0 threads=2
metrics=cd,emd,jsd
while [[ $# -gt 0 ]]; do
  case $1 in
    --split) split=$2 ;; --count) count=$2 ;; --sampler) sampler=$2 ;; --steps) steps=$2 ;;
    --guidance) guidance=$2 ;; --seed) seed=$2 ;; --threads) threads=$2 ;; --metrics) metrics=$2 ;;
    *) echo "eval_point_model.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
cli=${SHAPEDIFF:-$(dirname "$0")/../build/apps/shapediff}
mkdir -p "$out"
categories=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]+"/dataset.json"))["categories"]))' "$data")
for c in $categories; do
  n=$count
  if [[ $n -eq 0 ]]; then
    n=$(python3 - "$data" "$split" "$c" <<'PY'
import json, sys, zipfile, struct, glob, os
data, split, cat = sys.argv[1:]
cats = json.load(open(os.path.join(data, "dataset.json")))["categories"]
label = cats.index(cat)
total = 0
for shard in sorted(glob.glob(os.path.join(data, split + "-*.npz"))):
    raw = zipfile.ZipFile(shard).read("labels.npy")
    hlen = struct.unpack("<H", raw[8:10])[0]
    values = raw[10 + hlen:]
    total += sum(1 for i in range(0, len(values), 8) if struct.unpack("<q", values[i:i + 8])[0] == label)
print(total)
PY
)
  fi
  "$cli" sample --model "$model" --class "$c" --count "$n" --sampler "$sampler" --steps "$steps" \
    --guidance "$guidance" --seed "$seed" --threads "$threads" --out "$out/$c" --overwrite >/dev/null
  "$cli" eval --generated "$out/$c/samples.npz" --reference "$data:$split" --category "$c" \
    --metrics "$metrics" --threads "$threads" --json "$out/$c/eval.json" >/dev/null
done
python3 - "$out" $categories <<'PY'
import json, sys, os
out, cats = sys.argv[1], sys.argv[2:]
rows, summary = [], {}
keys = ["1-NNA-CD", "COV-CD", "MMD-CD", "1-NNA-EMD", "COV-EMD", "MMD-EMD", "JSD"]
for c in cats:
    r = json.load(open(os.path.join(out, c, "eval.json")))
    summary[c] = r
    m = r["metrics"]
    rows.append([c, str(r["generated"]["count"])] + ["%.4g" % m[k] if k in m else "-" for k in keys])
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print("| category | shapes | " + " | ".join(keys) + " |")
print("|---|---:|" + "---:|" * len(keys))
for row in rows:
    print("| " + " | ".join(row) + " |")
first = summary[cats[0]]
print("normalization: %s; EMD: %s" % (first["normalization"], first.get("emd")))
PY
