# Sourced by scripts/gpu-check.sh and scripts/gpu-bench.sh: finds nvcc and cuDNN, so that both the build
# and every program run afterwards (tests, bench_kernels, bench_eval, stylize) see the same cuDNN.
# cuDNN is looked for beside the toolkit, else inside the Python wheel (nvidia/cudnn); when found it
# exports CUDNN_ROOT and puts its lib/ on LD_LIBRARY_PATH (the wheel's library is not on the loader's
# path otherwise). Sets `toolkit` (the CUDA toolkit's folder) and `cudnn_root` (empty when not found).
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
toolkit=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
cudnn_root=""
if [ -f "$toolkit/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ]; then
  cudnn_root=$toolkit
else
  wheel=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ] && cudnn_root=$wheel
fi
if [ -n "$cudnn_root" ]; then
  export CUDNN_ROOT=$cudnn_root
  export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
fi
