#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what scripts/gpu_session.sh needs on the GPU machine, which has
# PyTorch's LibTorch and nvcc but not the project's other build dependencies, and no network:
#   .gpu/debs/   Debian packages of gtest, benchmark, nlohmann-json, CLI11, zlib and libpng
#   .gpu/data/   the dataset's train split (dataset.json trimmed to it, shards xz-compressed)
#   .gpu/ref/    the diffusers scheduler reference
# Usage: scripts/gpu_prepare.sh DATASET     (e.g. data/procedural from `shapediff data make`)
# Then call the device tool with carry [".gpu"] and the command `bash scripts/gpu_session.sh`.
# The tree plus .gpu must stay under the tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 1 || ! -f $1/dataset.json ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
data=$1
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
rm -rf .gpu && mkdir -p .gpu/debs .gpu/data .gpu/ref
(cd .gpu/debs && apt-get download libgtest-dev libbenchmark-dev libbenchmark1debian \
  nlohmann-json3-dev libcli11-dev zlib1g zlib1g-dev libpng-dev libpng16-16 >/dev/null)
python3 - "$data/dataset.json" .gpu/data/dataset.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["splits"] = {"train": d["splits"]["train"]}
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
shards=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["splits"]["train"]["shards"]))' \
  "$data/dataset.json")
for s in $shards; do xz -T2 -6 -c "$data/$s" >".gpu/data/$s.xz"; done
cp ../shared/reference/diffusers_schedulers.json .gpu/ref/
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
extra=$(du -sb .gpu | cut -f1)
echo "gpu_prepare: .gpu is $((extra / 1048576)) MiB, tracked files $((tracked / 1048576)) MiB" \
     "(the device tool takes 64 MiB in all)"
