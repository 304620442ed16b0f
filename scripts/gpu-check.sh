#!/usr/bin/env bash
# The one prepared call for a GPU machine (no network, no apt): prints what it finds, builds with CUDA
# for the card present, runs every test including the CUDA ones, runs the CUDA tests again under
# compute-sanitizer memcheck when time allows, and prints a short summary last.
#
# Before the call, on a machine with the Debian packages: scripts/pack-deps.sh  (fills .deps/)
# Device call: command "scripts/gpu-check.sh", carry [".deps"]; logs go to $OUT when it is set.
# Environment: NST_GPU_CHECK_BUDGET (seconds for the whole script, default 480), NST_CUDA_ARCH
# (default native; set e.g. 90 for a dry run on a machine without a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
budget=${NST_GPU_CHECK_BUDGET:-480}
out=${OUT:-/tmp/nst-gpu-check}
mkdir -p "$out"
build=build-gpu
elapsed() { echo $(( $(date +%s) - start )); }

echo "== what this machine has"
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version | tail -n 2 | head -n 1 || echo "nvcc: NOT FOUND"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: no GPU visible"
cmake --version | head -n 1
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)

# cuDNN: beside the toolkit, else inside the Python wheel (nvidia/cudnn), else build without it (loudly).
cudnn_root=""
toolkit=$(dirname "$(dirname "$(command -v nvcc)")")
if [ -f "$toolkit/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ]; then
  cudnn_root=$toolkit
else
  wheel=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  [ -n "$wheel" ] && [ -f "$wheel/include/cudnn.h" ] && cudnn_root=$wheel
fi
if [ -n "$cudnn_root" ]; then
  echo "cuDNN: $cudnn_root"
  export CUDNN_ROOT=$cudnn_root
  export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
else
  echo "cuDNN: NOT FOUND -- the cuDNN variants will be skipped, everything else is tested"
fi

echo "== configure and build (CUDA architectures: ${NST_CUDA_ARCH:-native})"
prefix="$PWD/.deps"
cmake -S . -B "$build" "${gen[@]}" -DNST_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${NST_CUDA_ARCH:-native}" \
  -DCMAKE_PREFIX_PATH="$prefix" ${cudnn_root:+-DCUDNN_ROOT="$cudnn_root"} >"$out/configure.log" 2>&1
cfg=$?
tail -n 5 "$out/configure.log"
build_ok=0
if [ $cfg -eq 0 ]; then
  cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1 && build_ok=1
  tail -n 3 "$out/build.log"
fi
[ $build_ok -eq 1 ] || { echo "BUILD FAILED (see $out/configure.log, $out/build.log)"; tail -n 40 "$out/build.log" 2>/dev/null; }

tests_line="not run"; skipped_cuda=0; memcheck="not run"
if [ $build_ok -eq 1 ]; then
  echo "== ctest (all tests, CUDA included)"
  # Without OpenBLAS (no Debian packages there) the CPU side runs the reference conv loops: leave out
  # the one CPU test that would then take many minutes (it runs in CI on every submission).
  exclude=()
  if grep -q "OpenBLAS not found" "$out/configure.log"; then
    exclude=(-E "shared images: a 128-px CPU run")
    echo "OpenBLAS not found: CPU reference conv only; skipping the 128-px CPU stylize test"
  fi
  (cd "$build" && ctest --output-on-failure -j 4 --timeout 300 "${exclude[@]}") >"$out/ctest.log" 2>&1
  grep -E "tests passed|tests failed|\(Failed\)|\(Skipped\)|\*\*\*" "$out/ctest.log" | tail -n 40
  tests_line=$(grep -E "tests passed, .* tests failed out of" "$out/ctest.log" | tail -n 1)
  skipped_cuda=$(grep -cE "cuda\..*\(Skipped\)" "$out/ctest.log" || true)

  san=$(command -v compute-sanitizer || ls "$toolkit"/bin/compute-sanitizer "$toolkit"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -n "$san" ] && (( $(elapsed) < budget - 200 )); then
    echo "== compute-sanitizer memcheck on the CUDA tests"
    timeout $(( budget - $(elapsed) - 30 )) "$san" --tool memcheck --error-exitcode 9 \
      "$build/tests/nst_cuda_tests" >"$out/memcheck.log" 2>&1
    rc=$?
    case $rc in
      0) memcheck="clean";;
      124) memcheck="stopped at the time budget (partial, see memcheck.log)";;
      9) memcheck="ERRORS (see memcheck.log)";;
      *) memcheck="exit $rc (see memcheck.log)";;
    esac
    tail -n 5 "$out/memcheck.log"
  elif [ -z "$san" ]; then
    memcheck="compute-sanitizer not found"
  else
    memcheck="skipped: not enough time left"
  fi
fi

# Benchmark: stylize at 512 px on the GPU, own kernels and cuDNN/cuBLAS, when the data came along.
bench="not run (no .deps/data: run scripts/pack-deps.sh with ../shared present)"
if [ $build_ok -eq 1 ] && [ -f .deps/data/vgg19-conv.safetensors ] && (( $(elapsed) < budget - 60 )); then
  bench=""
  for backend in own library; do
    line=$(timeout 120 "$build/stylize" --content-image .deps/data/chelsea.png --style-image .deps/data/starry_night.jpg \
      --weights .deps/data/vgg19-conv.safetensors --image-size 512 --num-iterations 30 --print-iter 10 --save-iter 0 \
      --gpu 0 --backend $backend --output-image "$out/bench_$backend.png" 2>&1 | tee "$out/bench_$backend.log" | tail -n 1)
    bench="$bench
  $backend: $line"
  done
fi

echo
echo "================ GPU CHECK SUMMARY ================"
echo "GPU:        $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || echo none)"
echo "cuDNN:      ${cudnn_root:-NOT FOUND (cuDNN variants skipped)}"
echo "build:      $([ $build_ok -eq 1 ] && echo ok || echo FAILED)"
echo "ctest:      $tests_line"
echo "CUDA tests skipped: $skipped_cuda$([ "$skipped_cuda" != 0 ] && echo '  <-- with a GPU present, only cuDNN ones may skip, and only if cuDNN is missing')"
echo "memcheck:   $memcheck"
echo "stylize 512px, 30 L-BFGS iterations:$bench"
echo "kernel tables: apps/bench_kernels arrives with the GPU kernel-ladder issue"
echo "time:       $(elapsed) s"
echo "logs:       $out"
