#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what the GPU-machine scripts need there: that machine has
# PyTorch's LibTorch and nvcc but not the project's other build dependencies, and no network.
#   .gpu/debs/      Debian packages of gtest, benchmark, nlohmann-json, CLI11, zlib and libpng
#   .gpu/ref/       the diffusers scheduler reference
#   .gpu/head.tgz   the tree as committed (git archive HEAD): the scripts build that, so edits
#                   not yet committed in this checkout never reach the GPU machine half-done
# The datasets are made on the GPU machine itself (`data make`, `image-data`: seconds on its
# 16 cores), the same seeds as the documented commands, so nothing large travels.
#   .gpu/data/      with --data DATASET only: its train split without normals, xz-compressed,
#                   for the completion run (virtual scans need CGAL, which the GPU build leaves
#                   out); ~33 MB of the procedural set, of the tool's 64 MiB
# Usage: scripts/gpu_prepare.sh [--data DATASET]   (rerun after each commit that should travel)
# Then call the device tool with carry [".gpu"] and `bash scripts/gpu_session.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
mkdir -p .gpu/debs .gpu/ref
rm -rf .gpu/data
if [[ ${1:-} == --data ]]; then
  # The train split without its normals (the completion run does not read them): two thirds of
  # the bytes.
  data=${2:?--data needs a dataset folder}
  mkdir -p .gpu/data
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
d["splits"] = {"train": d["splits"]["train"]}
d["normals"] = False
json.dump(d, open(sys.argv[2], "w"), indent=2)' "$data/dataset.json" .gpu/data/dataset.json
  for s in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["splits"]["train"]["shards"]))' \
      "$data/dataset.json"); do
    python3 -c '
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for i in src.infolist():
        if i.filename != "normals.npy": dst.writestr(i, src.read(i))' "$data/$s" ".gpu/data/$s"
    xz -T2 -6 ".gpu/data/$s"
  done
fi
if ! ls .gpu/debs/*.deb >/dev/null 2>&1; then
  (cd .gpu/debs && apt-get download libgtest-dev libbenchmark-dev libbenchmark1debian \
    nlohmann-json3-dev libcli11-dev zlib1g zlib1g-dev libpng-dev libpng16-16 >/dev/null)
fi
cp ../shared/reference/diffusers_schedulers.json .gpu/ref/
git archive --format=tar.gz -o .gpu/head.tgz HEAD
git rev-parse --short HEAD >.gpu/head.rev
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
extra=$(du -sb .gpu | cut -f1)
echo "gpu_prepare: .gpu is $((extra / 1048576)) MiB (HEAD $(cat .gpu/head.rev)), tracked files" \
     "$((tracked / 1048576)) MiB (the device tool takes 64 MiB in all)"
