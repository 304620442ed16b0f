#!/usr/bin/env bash
# Sets up and runs the test suite on a fresh Debian machine (and in CI):
# installs what is missing with apt-get, configures (CUDA when nvcc is present), builds, runs ctest;
# then builds the suite again CPU-only with AddressSanitizer + UndefinedBehaviorSanitizer (in
# <build>-asan) and runs it there, where any memory error, undefined behaviour or leak fails.
# Without a GPU the CUDA tests report themselves as skipped.
#
#   scripts/test.sh                 # build in ./build and ./build-asan, and test both
#   NST_BUILD_DIR=/tmp/b scripts/test.sh
#   NST_CMAKE_ARGS="-DNST_CUDA=OFF" scripts/test.sh
#   NST_SANITIZERS=0 scripts/test.sh   # skip the sanitizer pass (a quicker local run)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${NST_BUILD_DIR:-build}
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

# ---- the same suite under ASan + UBSan, CPU-only (CUDA's runtime and ASan do not mix) ----
if [ "${NST_SANITIZERS:-1}" != 0 ]; then
  echo "== sanitizer pass: AddressSanitizer + UndefinedBehaviorSanitizer, leaks fail"
  cmake -S . -B "$build_dir-asan" -G Ninja -DNST_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  cmake --build "$build_dir-asan" -j "$jobs"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd "$build_dir-asan" && ctest --output-on-failure -j "$jobs")
fi
