#!/usr/bin/env bash
# Installs every Debian package shapediff needs, only those missing. Idempotent and quick
# when everything is already there. Run as root (or with sudo available).
set -euo pipefail

packages=(
  cmake g++ make ccache pkg-config
  libtorch-dev libopenblas0-pthread   # LibTorch; OpenBLAS so GEMM is not reference BLAS
  libeigen3-dev libcgal-dev           # reconstruction, virtual scans
  libcgal-demo                        # CGAL's example meshes (real test and demo data)
  libopen3d-dev xvfb xauth            # viewer (headless under Xvfb)
  nlohmann-json3-dev libcli11-dev libpng-dev zlib1g-dev libstb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgloo-dev                         # c10d Gloo headers (data-parallel training)
  clang libclang-rt-dev               # libFuzzer targets in fuzz/ (clang++ and its runtimes)
  python3-skimage                     # benchmarks: marching cubes peer (scikit-image)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
