#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what the GPU-machine scripts need there: that machine has
# PyTorch's LibTorch and nvcc but not the project's other build dependencies, and no network.
#   .gpu/debs/      Debian packages of gtest, benchmark, nlohmann-json, CLI11, zlib and libpng
#   .gpu/ref/       the diffusers scheduler reference
#   .gpu/head.tgz   the tree as committed (git archive HEAD): the scripts build that, so edits
#                   not yet committed in this checkout never reach the GPU machine half-done
# The datasets are made on the GPU machine itself (`data make` with its virtual scans,
# `image-data`: seconds on its 16 cores), the same seeds as the documented commands, so nothing
# large travels.
# Usage: scripts/gpu_prepare.sh   (rerun after each commit that should travel)
# Then call the device tool with carry [".gpu"] and `bash scripts/gpu_session.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
mkdir -p .gpu/debs .gpu/ref
rm -rf .gpu/data
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
