#!/usr/bin/env bash
# Marching cubes at 128³ and 256³: shapediff's classic marching cubes against scikit-image's
# marching_cubes (Debian's python3-skimage, Lewiner's method, which also computes normals) on the
# same float32 grid, one thread each, median of 5 runs, in the same run.
#   benchmarks/marching_cubes_vs_skimage.sh [BUILD_DIR]     (default: build)
set -euo pipefail
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for res in 128 256; do
  "$build/benchmarks/marching_cubes_benchmark" "$res" "$tmp/grid$res.npy"
  OMP_NUM_THREADS=1 /usr/bin/python3 - "$tmp/grid$res.npy" "$res" <<'PY'
import sys, time
import numpy as np
from skimage import measure
vol = np.load(sys.argv[1])
times = []
for _ in range(5):
    t0 = time.perf_counter()
    verts, faces, normals, values = measure.marching_cubes(vol, 0.0)
    times.append((time.perf_counter() - t0) * 1000)
edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
_, counts = np.unique(edges, axis=0, return_counts=True)
closed = "yes" if np.all(counts == 2) else "no (%d boundary edges)" % int(np.sum(counts == 1))
print("skimage %s res %s: %.1f ms, %d vertices, %d faces, closed %s"
      % (__import__("skimage").__version__, sys.argv[2], sorted(times)[2], len(verts), len(faces), closed))
PY
done
