#!/usr/bin/env bash
# Sets up, configures, builds and runs the whole test suite (ctest). From the repository root:
#   scripts/test.sh            # build dir: build/
# Extra arguments go to ctest (e.g. -R diffusion).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
jobs=${SHAPEDIFF_JOBS:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" "$@"
