#!/usr/bin/env bash
# Sets up and runs the test suite on a fresh Debian machine (and in CI):
# installs what is missing with apt-get, configures (CUDA when nvcc is present), builds, runs ctest.
# Without a GPU the CUDA tests report themselves as skipped.
#
#   scripts/test.sh                 # build in ./build and test
#   NST_BUILD_DIR=/tmp/b scripts/test.sh
#   NST_CMAKE_ARGS="-DNST_CUDA=OFF" scripts/test.sh
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
cd "$build_dir"
ctest --output-on-failure -j "$jobs"
