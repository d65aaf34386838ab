#!/usr/bin/env bash
# One lease of the GPU machine, start to finish, inside a fixed time: build the committed tree
# (.gpu/head.tgz) against PyTorch's CUDA LibTorch, make the datasets there, train the models
# while the tests build, check the CUDA kernels against the CPU ops, then time on an idle GPU.
# Everything lands in $OUT; a short table is printed last.
#   scripts/gpu_session.sh
# Environment:
#   GPU_TIME=seconds   for the whole script (default 550)
#   RUNS="completion voxels images"   which trainings run side by side (names below: completion,
#                      generation, voxels, images, sr, sparse)
#   CHECKS=1           (default) the networks and diffusion *_CUDA tests, then the sparse
#                      convolution and NCCL timings on the idle GPU; CHECKS=full adds the
#                      shapes tests, the scheduler replay, PVCNN, point-op and sampling timings;
#                      CHECKS=0 trains only
#   .gpu/init/RUN.pt   continues RUN from that model (train --init-from), e.g. the model an
#                      earlier lease brought back; else the shipped model where there is one
# Expects, carried from the developer machine (made by scripts/gpu_prepare.sh):
#   .gpu/debs/*.deb, .gpu/ref/diffusers_schedulers.json, .gpu/head.tgz
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
budget=${GPU_TIME:-550}
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"
build=build-gpu
el() { echo $(( $(date +%s) - t0 )); }
log() { echo "[$(el)s] $*" | tee -a "$out/session.log"; }

# Dependencies, unpacked beside the tree (never into /); the committed tree becomes the cwd.
source scripts/gpu_env.sh
checks=${CHECKS:-1}
data=/tmp/gpudata renders=/tmp/renders
# The diffusion tests read the scheduler reference from ../shared at start-up.
mkdir -p ../shared/reference && cp -n .gpu/ref/diffusers_schedulers.json ../shared/reference/

prefix=$torch_prefix
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$out/gpu.txt" 2>&1
log "gpu: $(cat "$out/gpu.txt"); torch prefix $prefix"
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix;$deps/usr" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DSHAPEDIFF_WITH_CGAL=OFF -DSHAPEDIFF_WITH_OPEN3D=OFF -DSHAPEDIFF_NCCL=${NCCL:-ON} \
  -DCMAKE_BUILD_TYPE=Release -UZLIB_LIBRARY* -UPNG_LIBRARY* >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; }
grep -E "shapediff:|CUDA" "$out/configure.log" | head -5
log "configured"
cmake --build "$build" --target shapediff -j16 >"$out/build_app.log" 2>&1
app_rc=$?
log "app built rc=$app_rc"
[[ $app_rc -eq 0 ]] || grep -m15 -E "error|Error" "$out/build_app.log"

# The rest of the build runs beside the training, on fewer cores.
test_suites=(networks diffusion)
targets=(shapediff_networks_tests shapediff_diffusion_tests sparse_conv_benchmark)
# The NCCL timing exists where the configure check found c10d's NCCL (cmake/ShapediffNccl.cmake).
grep -q 'SHAPEDIFF_WITH_NCCL:INTERNAL=ON\|SHAPEDIFF_WITH_NCCL=ON\|NCCL data parallel on' "$out/configure.log" \
  "$build/CMakeCache.txt" 2>/dev/null && targets+=(data_parallel_nccl)
if [[ $checks == full ]]; then
  test_suites+=(shapes)
  targets+=(shapediff_shapes_tests point_ops_benchmark pvcnn_benchmark)
fi
if [[ $checks != 0 ]]; then
  cmake --build "$build" -j8 --target "${targets[@]}" -- "${keep_going[@]}" >"$out/build_rest.log" 2>&1 &
  rest_pid=$!
fi

cli=$build/apps/shapediff
# The datasets of the documented commands (same seeds), made here in seconds.
if [[ $app_rc -eq 0 ]]; then
  # With the virtual scans the completion run trains on (the BVH ray caster: this build has no
  # CGAL).
  "$cli" data make --per-family 200 --out "$data" --threads 12 >"$out/data_make.log" 2>&1 &
  data_pids=($!)
  "$cli" image-data --size 64 --per-family 200 --views 4 --out "$renders" --threads 4 \
    >"$out/image_data.log" 2>&1
  wait "${data_pids[@]}"
  log "data made: $(tail -1 "$out/data_make.log"); renders: $(tail -1 "$out/image_data.log")"
fi

case $checks in full) reserve=95 ;; 0) reserve=30 ;; *) reserve=85 ;; esac
train_end=$(( budget - reserve ))
read -r -a runs <<<"${RUNS:-completion voxels images}"
declare -A cfg=([completion]=configs/completion-small-gpu.json [generation]=configs/points-small-gpu.json
                [voxels]=configs/voxels-small.json [images]=configs/images-small-gpu.json
                [sr]=configs/images-sr-small-gpu.json [sparse]=configs/sparse-voxels-small-gpu.json)
declare -A init=([completion]=models/completion-procedural-small.pt
                 [generation]=models/points-procedural-small.pt)
declare -A dataset=([images]=$renders [sr]=$renders)
for r in "${runs[@]}"; do
  [[ -f .gpu/init/$r.pt ]] && init[$r]=.gpu/init/$r.pt
done
if [[ $app_rc -eq 0 ]]; then
  # Calibrate: 60 steps of all runs side by side, then size the real runs to the time left.
  calib_pids=()
  for r in "${runs[@]}"; do
    "$cli" train --config "${cfg[$r]}" --data "${dataset[$r]:-$data}" --out /tmp/calib-$r --steps 40 \
      --device cuda --threads 3 >"$out/calib_$r.log" 2>&1 &
    calib_pids+=($!)
  done
  wait "${calib_pids[@]}"
  left=$(( train_end - $(el) - 25 ))
  for r in "${runs[@]}"; do
    rate=$(grep -oE '[0-9.]+ steps/s' "$out/calib_$r.log" | tail -1 | cut -d' ' -f1)
    steps=$(python3 -c "print(max(200, int(float('${rate:-0}') * 0.9 * $left)))")
    log "$r: calibration ${rate:-?} steps/s, training $steps steps in ${left}s${init[$r]:+ from ${init[$r]}}"
    "$cli" train --config "${cfg[$r]}" --data "${dataset[$r]:-$data}" --out "/tmp/run-$r" --steps "$steps" \
      --device cuda --threads 3 ${init[$r]:+--init-from "${init[$r]}"} >"$out/train_$r.log" 2>&1 &
    eval "train_${r}_pid=$!"
  done
fi

if [[ $checks != 0 ]]; then
  # CUDA kernels against the CPU ops, and the scheduler reference replayed on CUDA (correctness
  # only; their timings come later, on an idle GPU).
  wait "$rest_pid"; rest_rc=$?
  log "tests built rc=$rest_rc"
  [[ $rest_rc -eq 0 ]] || grep -m15 -E "error:" "$out/build_rest.log"
  # Only the logs' ends come back (a whole log once outgrew the archive); a crash is named by
  # the last test that started.
  for t in "${test_suites[@]}"; do
    b=$build/tests/shapediff_${t}_tests
    [[ -x $b ]] && timeout 150 "$b" --gtest_filter='*_CUDA' >"/tmp/tests_$t.log" 2>&1
    rc=$?
    tail -n 400 "/tmp/tests_$t.log" >"$out/tests_$t.log"
    (( rc > 128 )) && log "tests $t died (signal $((rc - 128))) in $(grep -E '^\[ RUN' "/tmp/tests_$t.log" | tail -1)"
    log "tests $t rc=$rc $(grep -cE '^\[  FAILED  \]' "/tmp/tests_$t.log" 2>/dev/null) failed lines"
  done
  if [[ $checks == full ]]; then
    "$cli" scheduler replay --reference .gpu/ref/diffusers_schedulers.json --device cuda \
      >"$out/replay_cuda.log" 2>&1
    log "replay on cuda rc=$?"
  fi
fi

# Let the training finish; stop it with a checkpoint if it overruns.
for r in "${runs[@]}"; do
  pid_var="train_${r}_pid"; pid=${!pid_var:-}
  [[ -n $pid ]] || continue
  while kill -0 "$pid" 2>/dev/null && (( $(el) < train_end + 20 )); do sleep 2; done
  kill -0 "$pid" 2>/dev/null && { log "$r overran; SIGINT"; kill -INT "$pid"; }
  wait "$pid"; log "$r training rc=$?"
  tail -2 "$out/train_$r.log"
  m=/tmp/run-$r/model.pt
  [[ -f $m ]] || m=$(ls -t /tmp/run-$r/checkpoints/*.pt 2>/dev/null | head -1)
  # The device tool brings back files of at most 16 MB: larger models stay (and are sampled
  # here, below).
  if [[ -n $m && -f $m ]]; then
    (( $(stat -c %s "$m") < 16000000 )) && cp "$m" "$out/$r-model.pt" || log "$r: $m is too big to bring back"
    cp "$m" "/tmp/$r-model.pt"
  fi
  cp /tmp/run-$r/log.jsonl "$out/$r-log.jsonl" 2>/dev/null
done

# The voxel models are too big to bring back: their samples (grids, marching-cubes meshes)
# come back in the log archive instead.
if [[ -f /tmp/voxels-model.pt ]]; then
  timeout 60 "$cli" sample --model /tmp/voxels-model.pt --count 8 --class chair --device cuda \
    --out "$out/voxel_samples" >"$out/sample_voxels.log" 2>&1
  log "voxel samples rc=$? $(tail -1 "$out/sample_voxels.log")"
  if [[ -f /tmp/sparse-model.pt ]]; then
    timeout 90 "$cli" sample --model /tmp/sparse-model.pt --coarse-model /tmp/voxels-model.pt --count 4 \
      --class chair --device cuda --out "$out/sparse_samples" >"$out/sample_sparse.log" 2>&1
    log "sparse-voxel samples rc=$? $(tail -1 "$out/sample_sparse.log")"
    # Issue 8's comparison, scored on the device: the two-stage completion of 12 test scans beside
    # the point model (the one just trained when there is one, else the shipped one).
    cm=/tmp/completion-model.pt; [[ -f $cm ]] || cm=models/completion-procedural-small.pt
    timeout 150 "$cli" eval-completion --data "$data" --per-category 2 --category-known --device cuda \
      --threads 4 --completion-model "$cm" --strategies conditional --voxel-model /tmp/sparse-model.pt \
      --coarse-model /tmp/voxels-model.pt --json "$out/eval_voxels.json" >"$out/eval_voxels.log" 2>&1
    log "voxel completion eval rc=$? $(grep -E '^\| (retrieval|conditional|sparse-voxels|voxels) ' "$out/eval_voxels.log" | cut -d'|' -f2,3 | tr '\n' ' ')"
  fi
fi

if [[ $checks != 0 ]]; then
  # Timings on the idle GPU.
  timeout 40 "$build/benchmarks/sparse_conv_benchmark" --benchmark_filter=cuda \
    --benchmark_min_time=0.2 >"$out/sparse_conv_cuda.log" 2>&1
  [[ -x $build/benchmarks/data_parallel_nccl ]] &&
    timeout 30 "$build/benchmarks/data_parallel_nccl" >"$out/nccl_cuda.log" 2>&1
fi
if [[ $checks == full ]]; then
  if (( $(el) < budget - 45 )); then
    "$build/benchmarks/pvcnn_benchmark" --device=cuda --batch=16 --points=2048 \
      --benchmark_min_time=0.3 >"$out/pvcnn_bench_cuda.log" 2>&1
  fi
  if (( $(el) < budget - 25 )); then
    "$build/benchmarks/point_ops_benchmark" --benchmark_filter=/cuda --benchmark_min_time=0.1 \
      >"$out/point_ops_bench_cuda.log" 2>&1
  fi
  if [[ -f $out/generation-model.pt ]] && (( $(el) < budget - 12 )); then
    for i in 1 2; do
      s=$(date +%s.%N)
      "$cli" sample --model "$out/generation-model.pt" --count 16 \
        --sampler dpmsolver_multistep --steps 25 --device cuda --out /tmp/s$i --overwrite \
        >"$out/sample_cuda_$i.log" 2>&1
      echo "run $i: $(python3 -c "import time;print(round(time.time()-$s,2))") s wall, process start included" \
        >>"$out/sample_cuda.log"
    done
  fi
fi

echo "== $(cat "$out/gpu.txt")  ($(el)s)"
[[ $checks == full ]] && { echo "== replay on cuda:"; tail -2 "$out/replay_cuda.log"; }
for t in "${test_suites[@]}"; do
  echo "== CUDA tests $t: $(grep -E 'PASSED|FAILED  \] [0-9]|tests ran' "$out/tests_$t.log" 2>/dev/null | tr '\n' ' ')"
  grep -E '^\[  FAILED  \]' "$out/tests_$t.log" 2>/dev/null | head -5
done
echo "== training:"; for r in "${runs[@]}"; do echo "$r: $(tail -1 "$out/train_$r.log" 2>/dev/null)"; done
[[ -f $out/eval_voxels.log ]] && { echo "== voxel completion (CD all = last CD column):"; grep -E '^\| (input|retrieval|conditional|sparse-voxels|voxels) ' "$out/eval_voxels.log" | awk -F'|' '{print $2, $(NF-3)}'; }
echo "== sparse conv cuda:"; grep -E '/cuda' "$out/sparse_conv_cuda.log" 2>/dev/null | cut -c1-150 | head -24
echo "== nccl: $(grep -m1 -oE 'NCCL data parallel [a-z]+.*' "$out/configure.log")"; tail -8 "$out/nccl_cuda.log" 2>/dev/null
echo "== pvcnn cuda:"; grep -E '^(BM|pvd|small|tiny|[a-z_/]+ +[0-9])' "$out/pvcnn_bench_cuda.log" 2>/dev/null | head -8
echo "== point ops cuda:"; grep -E '/cuda' "$out/point_ops_bench_cuda.log" 2>/dev/null | head -10
echo "== sample 16 shapes, DPM-Solver++ 25 steps, cuda:"; tail -2 "$out/sample_cuda.log" 2>/dev/null
# The device tool returns at most 8 files: the models, and every log in one archive.
# Meshes stay behind (the grids they come from travel); an archive over the tool's 16 MB a file
# comes back in parts (cat logs.tgz.part-* > logs.tgz).
(cd "$out" && tar -czf /tmp/logs.tgz --exclude='./*.pt' --exclude='*.ply' --exclude='samples.npz' . &&
  find . -mindepth 1 -maxdepth 1 ! -name '*.pt' -exec rm -rf {} + &&
  if (( $(stat -c %s /tmp/logs.tgz) > 15000000 )); then split -b 15000000 /tmp/logs.tgz logs.tgz.part-
  else mv /tmp/logs.tgz .; fi)
