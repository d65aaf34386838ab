#!/usr/bin/env bash
# Build and test on the GPU machine: PyTorch's CUDA LibTorch, CGAL and Open3D off (they are not
# installed there). Results (logs, replay on CUDA, benchmark) go to $OUT when it is set.
#   scripts/gpu_build_test.sh [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
out=${OUT:-$build/out}
mkdir -p "$out"

prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') || {
  echo "gpu: PyTorch not found" >&2; exit 1; }
export PATH=/usr/local/cuda/bin:$PATH
cmake -S . -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSHAPEDIFF_WITH_CGAL=OFF -DSHAPEDIFF_WITH_OPEN3D=OFF -DCMAKE_BUILD_TYPE=Release \
  >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$out/build.log" 2>&1 || { grep -m20 -E 'error' "$out/build.log"; tail -20 "$out/build.log"; exit 1; }
ctest --test-dir "$build" --output-on-failure -j8 >"$out/ctest.log" 2>&1
ctest_rc=$?
"$build/apps/shapediff" scheduler replay --reference ../shared/reference/diffusers_schedulers.json \
  --device cuda >"$out/replay_cuda.log" 2>&1
replay_rc=$?
# The point ops' CUDA kernels against their CPU versions (ctest ran them too; this log shows
# each one, and a skipped one means the build or the device lacks CUDA).
"$build/tests/shapediff_networks_tests" --gtest_filter='*_CUDA' >"$out/point_ops_cuda.log" 2>&1
point_ops_rc=$?
if grep -q '^\[  SKIPPED \]' "$out/point_ops_cuda.log"; then point_ops_rc=1; fi
if [[ -x "$build/benchmarks/point_ops_benchmark" ]]; then
  "$build/benchmarks/point_ops_benchmark" --benchmark_filter=/cuda --benchmark_min_time=0.2 \
    >"$out/point_ops_bench_cuda.log" 2>&1
fi
if [[ -x "$build/benchmarks/sampler_step_benchmark" ]]; then
  "$build/benchmarks/sampler_step_benchmark" --threads=2 --benchmark_min_time=0.1 \
    >"$out/sampler_bench_cpu.log" 2>&1
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$out/gpu.txt" 2>&1
echo "== gpu: $(cat "$out/gpu.txt")"
echo "== ctest (rc=$ctest_rc):"; tail -5 "$out/ctest.log"
echo "== CUDA tests:"; grep -E '_CUDA' "$out/ctest.log" | tail -20
echo "== point ops CUDA vs CPU (rc=$point_ops_rc):"
grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|Failure|max \|cuda - cpu\||CUDA kernel failed' \
  "$out/point_ops_cuda.log" | head -40
if [[ -s "$out/point_ops_bench_cuda.log" ]]; then
  echo "== point ops benchmark on cuda:"; grep -E '/cuda' "$out/point_ops_bench_cuda.log" | head -20
fi
echo "== replay on cuda (rc=$replay_rc):"; tail -3 "$out/replay_cuda.log"
[[ $ctest_rc -eq 0 && $replay_rc -eq 0 && $point_ops_rc -eq 0 ]]
