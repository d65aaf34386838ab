# Sourced by the GPU-machine scripts (gpu_session.sh, gpu_check_kernels.sh): moves to the
# committed tree of .gpu/head.tgz (see gpu_prepare.sh) unpacked under /tmp/src, unpacks the
# carried Debian packages (.gpu/debs) under /tmp/gpudeps, never into /, and sets `deps`,
# LD_LIBRARY_PATH, PATH (nvcc), the generator flags `gen` and `keep_going`, and `torch_prefix`
# (PyTorch's CMake prefix).
if [[ -f .gpu/head.tgz && $PWD != /tmp/src ]]; then
  rm -rf /tmp/src && mkdir -p /tmp/src && tar -xzf .gpu/head.tgz -C /tmp/src
  cp -r .gpu /tmp/src/ && cd /tmp/src
  echo "gpu_env: building the committed tree $(cat .gpu/head.rev 2>/dev/null)"
fi
deps=/tmp/gpudeps
mkdir -p "$deps"
for f in .gpu/debs/*.deb; do dpkg -x "$f" "$deps"; done
# Debian's libz.so points at an absolute /lib path; static archives are not built for PIC.
rm -f "$deps"/usr/lib/x86_64-linux-gnu/lib{z,png,png16}.a
for c in "$deps"/lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1; do
  [[ -e $c ]] && { ln -sf "$c" "$deps/usr/lib/x86_64-linux-gnu/libz.so"; break; }
done
export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export PATH=/usr/local/cuda/bin:$PATH
torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
gen=() keep_going=(-k)
command -v ninja >/dev/null && { gen=(-G Ninja); keep_going=(-k 0); }
