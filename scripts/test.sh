#!/usr/bin/env bash
# Sets up and runs the test suite on a fresh Debian machine (and in CI), in four passes:
#   1. <build>:      configure (CUDA when nvcc is present), build, every test. Without a GPU the CUDA
#                    tests report themselves as skipped here...
#   2. <build>-asan: the suite again CPU-only under AddressSanitizer + UndefinedBehaviorSanitizer, where
#                    any memory error, undefined behaviour or leak fails;
#   3. <build>-emu:  ...and run here: the CUDA code built for the CUDA-on-CPU layer (cuda_on_cpu/,
#                    -DNST_CUDA_EMULATION=ON), every cuda.* test (cuDNN's excepted: it cannot run there),
#                    the layer's own tests and the CUDA tests again in a shuffled schedule;
#   4. <build>-tsan: the same layer under ThreadSanitizer, the kernel tests once more, so a kernel race (a
#                    missing __syncthreads) fails; and a kernel copy without its barriers must be reported.
#
#   scripts/test.sh                 # build in ./build, ./build-asan, ./build-emu, ./build-tsan; test all
#   NST_BUILD_DIR=/tmp/b scripts/test.sh
#   NST_CMAKE_ARGS="-DNST_CUDA=OFF" scripts/test.sh
#   NST_SANITIZERS=0 scripts/test.sh   # skip passes 2 and 4 (a quicker local run)
#   NST_EMULATION=0 scripts/test.sh    # skip passes 3 and 4
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${NST_BUILD_DIR:-build}
t0=$SECONDS
summary=""
# CI's 90 minutes: each pass's share and its slowest tests, repeated at the end (CI shows the log's tail).
took() {
  local line="== $1 took $((SECONDS - t0)) s" cost="$2/Testing/Temporary/CTestCostData.txt" top=""
  echo "$line"; summary+="$line"$'\n'; t0=$SECONDS
  if [ -f "$cost" ]; then
    top=$(grep -v -- '^---' "$cost" | awk '{c=$NF; NF-=2; printf "   %7.1f s  %.90s\n", c, $0}' | sort -g -r | head -n 4) || true
    summary+="$top"$'\n'
  fi
  return 0
}
trap '[ "$BASHPID" = "$$" ] && printf "%s" "$summary"' EXIT  # (not in the ( ... ) subshells)
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if command -v nvcc >/dev/null; then
  echo "== nvcc: $(nvcc --version | tail -n 2 | head -n 1) (CUDA code is compiled; it runs only where a GPU is)"
else
  echo "== nvcc not found: CPU-only build"
fi

# ---- configure, build, test ----
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja ${NST_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$jobs"
(cd "$build_dir" && ctest --output-on-failure -j "$jobs")
took "pass 1 (install, build, every test)" "$build_dir"

# ---- the same suite under ASan + UBSan, CPU-only (CUDA's runtime and ASan do not mix) ----
if [ "${NST_SANITIZERS:-1}" != 0 ]; then
  echo "== sanitizer pass: AddressSanitizer + UndefinedBehaviorSanitizer, leaks fail"
  cmake -S . -B "$build_dir-asan" -G Ninja -DNST_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  cmake --build "$build_dir-asan" -j "$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Left out: the video quality run (16 frames of stylize at 96x64, 55 s in pass 1 and 1200 s under ASan,
  # the largest test of any pass); the temporal term, the flow and the warping run under ASan in the other
  # video tests (the temporal gradient check, frames in and out with SIGKILL and resume, the MP4 run).
  (cd "$build_dir-asan" && ctest --output-on-failure -j "$jobs" -E "${NST_ASAN_EXCLUDE:-warping error is at most}")
  took "pass 2 (ASan+UBSan)" "$build_dir-asan"
fi

# ---- CUDA on the CPU: every CUDA test runs, with no GPU ----
if [ "${NST_EMULATION:-1}" != 0 ]; then
  echo "== CUDA-on-CPU pass: kernels/cuda built with the host compiler against cuda_on_cpu/"
  cmake -S . -B "$build_dir-emu" -G Ninja -DNST_CUDA_EMULATION=ON
  cmake --build "$build_dir-emu" -j "$jobs" --target nst_cuda_tests nst_cuda_on_cpu_tests stylize bench_kernels
  (cd "$build_dir-emu" && ctest --output-on-failure -j "$jobs" -R '^(cuda\.|cuda_on_cpu)')
  took "pass 3 (CUDA on the CPU)" "$build_dir-emu"

  if [ "${NST_SANITIZERS:-1}" != 0 ]; then
    # The kernel tests on their odd shapes (TSan runs them 10-50x slower; not VGG-19's shapes, not the
    # end-to-end runs: stylize, train_style, whole networks, the tiled controls, whose kernels the kernel
    # tests cover): every rung forward and backward, reductions, optimizers, graphs; the layer's fault
    # tests; and the barrier mutant, which must be reported as a race.
    echo "== ThreadSanitizer pass: the CUDA kernels on the CUDA-on-CPU layer, races fail"
    cmake -S . -B "$build_dir-tsan" -G Ninja -DNST_CUDA_EMULATION=ON -DNST_TSAN=ON
    cmake --build "$build_dir-tsan" -j "$jobs" --target nst_cuda_tests nst_cuda_on_cpu_tests
    export TSAN_OPTIONS=halt_on_error=0:exitcode=66:second_deadlock_stack=1
    (cd "$build_dir-tsan" && ctest --output-on-failure -j "$jobs" -R '^(cuda\.|cuda_on_cpu|tsan\.)' \
       -E "${NST_TSAN_EXCLUDE:-VGG-19|5 iterations|cuDNN|shuffled|stylize|bench_kernels|train_style|tiled TransformerNet|multi-style network|controls and tiles}")
    took "pass 4 (ThreadSanitizer)" "$build_dir-tsan"
  fi
fi
