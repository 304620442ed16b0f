#!/usr/bin/env bash
# Configures a build folder for scripts/demo.sh and scripts/get-weights.sh without fighting an existing
# one: a folder that is already configured keeps the CMake generator it was made with (Ninja, Unix
# Makefiles, ...); a new folder gets Ninja when ninja is installed, else CMake's default generator (or
# the one $CMAKE_GENERATOR names). CMake's output goes to stderr, so callers' stdout stays theirs.
#
#   scripts/configure-build.sh BUILD_DIR [CMAKE_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/configure-build.sh BUILD_DIR [CMAKE_ARGS...]" >&2; exit 2; }
dir=$1
shift
say() { echo "configure-build: $*" >&2; }

if ! command -v cmake >/dev/null; then
  say "cmake is not installed (scripts/install-deps.sh installs it)"
  exit 1
fi
generator=()
if [ -f "$dir/CMakeCache.txt" ]; then
  say "reusing $dir (generator: $(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt"))"
elif [ -n "${CMAKE_GENERATOR:-}" ]; then
  say "new build folder $dir, generator from CMAKE_GENERATOR: $CMAKE_GENERATOR"
elif command -v ninja >/dev/null; then
  generator=(-G Ninja)
else
  say "ninja not found: configuring $dir with CMake's default generator"
fi
# nvcc is often installed outside PATH; CUDA code is built when it is found.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B "$dir" "${generator[@]}" "$@" >&2
