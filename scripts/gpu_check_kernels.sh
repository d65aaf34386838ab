#!/usr/bin/env bash
# A short GPU-machine check of the networks' CUDA code: builds only shapediff_networks_tests and
# the sparse benchmarks against PyTorch's CUDA LibTorch, runs every *_CUDA test of networks/
# (point ops, sparse tensor, kernel maps, sparse convolution, the fused sparse convolution
# kernels) and times the sparse rows on CUDA (fused kernels and torch ops, float32 and TF32).
# Needs .gpu/debs (scripts/gpu_prepare.sh); results under $OUT, a short table last.
#   scripts/gpu_check_kernels.sh
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
build=build-gpu
source scripts/gpu_env.sh
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DSHAPEDIFF_WITH_CGAL=OFF -DSHAPEDIFF_WITH_OPEN3D=OFF \
  -DCMAKE_BUILD_TYPE=Release -UZLIB_LIBRARY* -UPNG_LIBRARY* >"$out/configure.log" 2>&1 \
  || tail -20 "$out/configure.log"
cmake --build "$build" -j16 --target shapediff_networks_tests sparse_conv_benchmark \
  sparse_kernel_map_benchmark -- "${keep_going[@]}" >"$out/build.log" 2>&1
echo "build rc=$? after $(( $(date +%s) - t0 ))s"
grep -m10 "error:" "$out/build.log"
timeout 120 "$build/tests/shapediff_networks_tests" --gtest_filter='*_CUDA' >"$out/cuda_tests.log" 2>&1
echo "cuda tests rc=$? after $(( $(date +%s) - t0 ))s"
timeout 90 "$build/benchmarks/sparse_conv_benchmark" --benchmark_filter=cuda --benchmark_min_time=0.2 \
  >"$out/sparse_conv_cuda.log" 2>&1
timeout 40 "$build/benchmarks/sparse_kernel_map_benchmark" --benchmark_filter=cuda \
  --benchmark_min_time=0.2 >"$out/kernel_map_cuda.log" 2>&1
echo "== $(nvidia-smi --query-gpu=name --format=csv,noheader), $(( $(date +%s) - t0 ))s"
echo "== Gloo headers in PyTorch's LibTorch: $(ls -d "$torch_prefix"/../../include/gloo 2>/dev/null || echo none)"
grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|Failure|PASSED' "$out/cuda_tests.log" | head -40
grep -E 'cuda' "$out/sparse_conv_cuda.log" "$out/kernel_map_cuda.log" | cut -c1-190 | head -24
