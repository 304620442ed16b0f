#!/usr/bin/env bash
# Stylizes an example picture: installs what is missing, builds stylize, finds (or downloads) the VGG-19
# weights, and runs it.
#
#   scripts/demo.sh                          # ../shared/images/chelsea.png in the style of starry_night.jpg
#   scripts/demo.sh CONTENT STYLE [OUTPUT]   # your own pair (default output: out/demo.png)
#
# On the CPU it makes a 256-pixel picture in a few minutes; with a GPU, 512 pixels.
# NST_DEMO_SIZE and NST_DEMO_ITERATIONS override the size and the number of iterations.
set -euo pipefail
cd "$(dirname "$0")/.."

content=${1:-../shared/images/chelsea.png}
style=${2:-../shared/images/starry_night.jpg}
out=${3:-out/demo.png}
for f in "$content" "$style"; do
  if [ ! -f "$f" ]; then
    echo "demo: $f not found. Usage: scripts/demo.sh CONTENT_IMAGE STYLE_IMAGE [OUTPUT.png]" >&2
    exit 1
  fi
done

scripts/install-deps.sh
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target stylize
weights=$(scripts/get-weights.sh | tail -n 1)

gpu=-1
if command -v nvcc >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu=0; fi
size=${NST_DEMO_SIZE:-$([ "$gpu" -ge 0 ] && echo 512 || echo 256)}
iterations=${NST_DEMO_ITERATIONS:-$([ "$gpu" -ge 0 ] && echo 500 || echo 300)}
mkdir -p "$(dirname "$out")"
echo "== stylizing $content in the style of $style at ${size}px, $iterations iterations ($([ "$gpu" -ge 0 ] && echo GPU || echo CPU))"
build/stylize --content-image "$content" --style-image "$style" --output-image "$out" --weights "$weights" \
  --image-size "$size" --num-iterations "$iterations" --print-iter 25 --save-iter 0 --gpu "$gpu"
echo "== wrote $out"
