#!/usr/bin/env bash
# The one prepared call for a GPU machine (no network, no apt): prints what it finds, builds with CUDA
# for the card present only what the GPU needs (the CUDA tests, bench_kernels, bench_eval, stylize), runs
# the CUDA tests (ctest -R '^cuda\.'; every CPU test runs in CI on every submission), runs them again under
# compute-sanitizer memcheck and times stylize at 512 px when time allows, and prints a short summary last.
# Every step runs under `timeout`, capped by its own limit and by what is left of the budget, so the
# script ends within NST_GPU_CHECK_BUDGET seconds (plus a few to pack the logs) even when something hangs.
#
# Before the call, on a machine with the Debian packages: scripts/pack-deps.sh  (fills .deps/)
# Device call: command "scripts/gpu-check.sh", carry [".deps"], timeout_s 540. The logs come back as one
# file, $OUT/gpu-check-logs.tar.gz (the device call returns at most 8 files).
# Environment: NST_GPU_CHECK_BUDGET (seconds for the whole script, default 480), NST_CUDA_ARCH
# (default native; set e.g. 90 for a dry run on a machine without a GPU), NST_GPU_LOGS (the folder for
# the logs: scripts/gpu-bench.sh sets it and packs the logs itself).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
budget=${NST_GPU_CHECK_BUDGET:-480}
pack=1; [ -n "${NST_GPU_LOGS:-}" ] && pack=0
logs=${NST_GPU_LOGS:-$(mktemp -d /tmp/nst-gpu-check.XXXXXX)}
mkdir -p "$logs"
build=build-gpu
elapsed() { echo $(( $(date +%s) - start )); }
# capped CAP CMD...: CMD under `timeout`, for at most CAP seconds and never past the budget (124: stopped).
capped() {
  local cap=$1 left=$(( budget - $(elapsed) ))
  shift
  (( cap > left )) && cap=$left
  if (( cap < 5 )); then echo "skipped: time budget spent" >&2; return 124; fi
  timeout -k 5 "$cap" "$@"
}

echo "== what this machine has"
source scripts/cudnn-env.sh
nvcc --version | tail -n 2 | head -n 1 || echo "nvcc: NOT FOUND"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: no GPU visible"
cmake --version | head -n 1
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
echo "cuDNN: ${cudnn_root:-NOT FOUND -- the cuDNN variants will be skipped, everything else is tested}"

echo "== configure and build (CUDA architectures: ${NST_CUDA_ARCH:-native})"
# Without apt there: no cpp-httplib (the preview) and no OpenCV (stylize_video); the temporal term's own
# CUDA test is in nst_cuda_tests either way.
capped 60 cmake -S . -B "$build" "${gen[@]}" -DNST_CUDA=ON -DBUILD_TESTING=ON -DNST_PREVIEW=OFF -DNST_VIDEO=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${NST_CUDA_ARCH:-native}" -DCMAKE_PREFIX_PATH="$PWD/.deps" \
  ${cudnn_root:+-DCUDNN_ROOT="$cudnn_root"} >"$logs/configure.log" 2>&1
cfg=$?
tail -n 5 "$logs/configure.log"
build_ok=0
build_state=FAILED
if [ $cfg -eq 0 ]; then
  # Ninja keeps going past a failed file (-k 0), so that one compiler's complaint (this machine's g++ may
  # be another version than the workplace's) costs only the targets that need that file.
  keep_going=(); [ ${#gen[@]} -gt 0 ] && keep_going=(-- -k 0)
  capped 240 cmake --build "$build" -j "$(nproc)" --target nst_cuda_tests bench_kernels bench_eval stylize \
    "${keep_going[@]}" >"$logs/build.log" 2>&1 && build_ok=1
  tail -n 3 "$logs/build.log"
fi
if [ $build_ok -eq 0 ]; then
  echo "BUILD FAILED (see configure.log, build.log)"; grep -E -A12 "^FAILED" "$logs/build.log" 2>/dev/null | head -n 60
  # Whatever did build still runs below.
  [ -x "$build/tests/nst_cuda_tests" ] && build_ok=1 && build_state="FAILED in part (the CUDA tests built and ran)"
fi

tests_line="not run"; skipped_cuda=0; memcheck="not run"
if [ $build_ok -eq 1 ]; then
  echo "== ctest -R '^cuda\.' (the CUDA tests)"
  capped 150 ctest --test-dir "$build" -R '^cuda\.' --output-on-failure --timeout 120 >"$logs/ctest.log" 2>&1
  [ $? -eq 124 ] && echo "ctest stopped at its time cap" | tee -a "$logs/ctest.log"
  grep -E "tests passed|tests failed|\(Failed\)|\(Skipped\)|\*\*\*" "$logs/ctest.log" | tail -n 40
  tests_line=$(grep -E "tests passed.* out of" "$logs/ctest.log" | tail -n 1)
  skipped_cuda=$(grep -cE "cuda\..*\(Skipped\)" "$logs/ctest.log" || true)

  # memcheck only with at least 70 s for it, after keeping 2 x 30 s for the stylize timing below.
  keep=10; [ -f .deps/data/vgg19-conv.safetensors ] && keep=60
  san=$(command -v compute-sanitizer || ls "$toolkit"/bin/compute-sanitizer "$toolkit"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
  if [ -n "$san" ] && (( $(elapsed) < budget - keep - 70 )); then
    echo "== compute-sanitizer memcheck on the CUDA tests"
    capped $(( budget - $(elapsed) - keep )) "$san" --tool memcheck --error-exitcode 9 \
      "$build/tests/nst_cuda_tests" >"$logs/memcheck.log" 2>&1
    rc=$?
    case $rc in
      0) memcheck="clean";;
      124) memcheck="stopped at its time cap (partial, see memcheck.log)";;
      9) memcheck="ERRORS (see memcheck.log)";;
      *) memcheck="exit $rc (see memcheck.log)";;
    esac
    tail -n 5 "$logs/memcheck.log"
  elif [ -z "$san" ]; then
    memcheck="compute-sanitizer not found"
  else
    memcheck="skipped: not enough time left"
  fi
fi

# Benchmark: stylize at 512 px on the GPU, own kernels and cuDNN/cuBLAS, when the data came along.
bench="not run (no .deps/data: run scripts/pack-deps.sh with ../shared present)"
if [ $build_ok -eq 1 ] && [ -f .deps/data/vgg19-conv.safetensors ]; then
  bench=""
  for backend in own library; do
    if (( budget - $(elapsed) < 60 )); then
      bench="$bench
  $backend: skipped: not enough time left"
      continue
    fi
    line=$(capped 30 "$build/stylize" --content-image .deps/data/chelsea.png --style-image .deps/data/starry_night.jpg \
      --weights .deps/data/vgg19-conv.safetensors --image-size 512 --num-iterations 30 --print-iter 10 --save-iter 0 \
      --gpu 0 --backend $backend --output-image "$logs/bench_$backend.png" 2>&1 | tee "$logs/bench_$backend.log" | tail -n 1)
    bench="$bench
  $backend: $line"
  done
fi

where=$logs
if [ $pack -eq 1 ] && [ -n "${OUT:-}" ]; then
  tar czf "$OUT/gpu-check-logs.tar.gz" -C "$logs" . && where="$OUT/gpu-check-logs.tar.gz"
fi

echo
echo "================ GPU CHECK SUMMARY ================"
echo "GPU:        $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || echo none)"
echo "cuDNN:      ${cudnn_root:-NOT FOUND (cuDNN variants skipped)}"
[ $build_ok -eq 1 ] && [ "$build_state" = FAILED ] && build_state=ok
echo "build:      $build_state"
echo "ctest cuda: $tests_line"
echo "CUDA tests skipped: $skipped_cuda$([ "$skipped_cuda" != 0 ] && echo '  <-- with a GPU present, only cuDNN ones may skip, and only if cuDNN is missing')"
echo "memcheck:   $memcheck"
echo "stylize 512px, 30 L-BFGS iterations:$bench"
echo "time:       $(elapsed) s of a $budget s budget"
echo "logs:       $where"
