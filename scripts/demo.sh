#!/usr/bin/env bash
# Stylizes an example picture: installs what is missing, builds stylize, finds (or downloads) the VGG-19
# weights, and runs it.
#
#   scripts/demo.sh                          # docs/examples/chelsea.jpg in the style of docs/examples/starry_night.jpg
#   scripts/demo.sh CONTENT STYLE [OUTPUT]   # your own pair (default output: out/demo.png)
#
# On the CPU it makes a 256-pixel picture in a few minutes; with a GPU, 512 pixels. Paths on the command
# line are taken from where you stand. Settings from the environment:
#   NST_DEMO_SIZE, NST_DEMO_ITERATIONS  the size and the number of iterations
#   NST_DEMO_GPU         the --gpu to pass; by default 0 when the built stylize has CUDA (stylize --version)
#                        and nvidia-smi lists a GPU, else -1 (the CPU)
#   NST_DEMO_OUTPUT      the output when none is given on the command line (default out/demo.png)
#   NST_DEMO_BUILD_DIR   the build folder, from the repository (default build); an existing one keeps the
#                        CMake generator it was configured with, a new one gets Ninja when it is installed
#   NST_DEMO_STYLIZE     a stylize that is already built: nothing is configured or built
#   NST_DEMO_SKIP_INSTALL=1  do not run scripts/install-deps.sh (which uses apt-get)
#   NST_WEIGHTS          the VGG-19 weights to use (see scripts/get-weights.sh for where they are looked for)
set -euo pipefail
usage="usage: scripts/demo.sh [CONTENT_IMAGE STYLE_IMAGE [OUTPUT.png]]"
say() { echo "demo: $*" >&2; }
caller=$PWD
from_caller() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$caller/$1" ;; esac; }

case ${1:-} in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
if [ $# -gt 3 ]; then say "too many arguments. $usage"; exit 2; fi
cd "$(dirname "$0")/.."
content=docs/examples/chelsea.jpg  # public domain and CC0: docs/examples/README.md
style=docs/examples/starry_night.jpg
out=$PWD/out/demo.png
[ -z "${NST_DEMO_OUTPUT:-}" ] || out=$(from_caller "$NST_DEMO_OUTPUT")
[ $# -lt 1 ] || content=$(from_caller "$1")
[ $# -lt 2 ] || style=$(from_caller "$2")
[ $# -lt 3 ] || out=$(from_caller "$3")
if [ -n "${NST_WEIGHTS:-}" ]; then NST_WEIGHTS=$(from_caller "$NST_WEIGHTS"); export NST_WEIGHTS; fi
need_file() {
  if [ ! -e "$2" ]; then say "$1 '$2' not found. $usage"
  elif [ ! -f "$2" ]; then say "$1 '$2' is not a file. $usage"
  elif [ ! -r "$2" ]; then say "$1 '$2' cannot be read"
  else return 0; fi
  exit 1
}
need_file "content image" "$content"
need_file "style image" "$style"
if [ -n "${NST_DEMO_GPU:-}" ] && ! [[ $NST_DEMO_GPU =~ ^(-1|[0-9]+)$ ]]; then
  say "NST_DEMO_GPU must be a device index or -1 (the CPU), not '$NST_DEMO_GPU'"; exit 1
fi

[ "${NST_DEMO_SKIP_INSTALL:-0}" = 1 ] || scripts/install-deps.sh

if [ -n "${NST_DEMO_STYLIZE:-}" ]; then
  stylize=$(from_caller "$NST_DEMO_STYLIZE")
  [ -x "$stylize" ] || { say "NST_DEMO_STYLIZE=$NST_DEMO_STYLIZE is not an executable file"; exit 1; }
  build=$(dirname "$stylize")  # where get-weights.sh finds convert_weights, should it need it
else
  build=${NST_DEMO_BUILD_DIR:-build}
  scripts/configure-build.sh "$build"
  cmake --build "$build" --target stylize --config Release -j "$(nproc 2>/dev/null || echo 2)"  # --config: multi-config generators
  stylize=$build/stylize
  if [ ! -x "$stylize" ] && [ -x "$build/Release/stylize" ]; then stylize=$build/Release/stylize; fi
  [ -x "$stylize" ] || { say "the build finished but there is no $build/stylize"; exit 1; }
fi

# The device: what the built binary supports, and whether a GPU is there to use.
version=$("$stylize" --version) || { say "$stylize --version failed"; exit 1; }
if [ -n "${NST_DEMO_GPU:-}" ]; then
  gpu=$NST_DEMO_GPU why="NST_DEMO_GPU"
elif [[ $version != *", with CUDA"* ]]; then
  gpu=-1 why="'$version': no CUDA in this build"
elif ! gpus=$(nvidia-smi -L 2>/dev/null) || ! grep -q '^GPU 0' <<<"$gpus"; then
  gpu=-1 why="this stylize has CUDA, but nvidia-smi lists no GPU"
else
  gpu=0 why="nvidia-smi lists $(head -n 1 <<<"$gpus" | sed 's/ (UUID.*//')"
fi

weights=$(NST_BUILD_DIR=$build scripts/get-weights.sh | tail -n 1)
size=${NST_DEMO_SIZE:-$([ "$gpu" -ge 0 ] && echo 512 || echo 256)}
iterations=${NST_DEMO_ITERATIONS:-$([ "$gpu" -ge 0 ] && echo 500 || echo 300)}
mkdir -p "$(dirname "$out")"
echo "== stylizing $content in the style of $style at ${size}px, $iterations iterations," \
     "--gpu $gpu ($([ "$gpu" -ge 0 ] && echo GPU || echo CPU): $why)"
if ! "$stylize" --content-image "$content" --style-image "$style" --output-image "$out" --weights "$weights" \
  --image-size "$size" --num-iterations "$iterations" --print-iter 25 --save-iter 0 --gpu "$gpu"; then
  [ "$gpu" -lt 0 ] || say "stylize failed with --gpu $gpu; NST_DEMO_GPU=-1 scripts/demo.sh ... runs on the CPU"
  exit 1
fi
echo "== wrote $out"
