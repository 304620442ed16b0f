#!/usr/bin/env bash
# Finds VGG-19 weights, or downloads torchvision's and converts them. Prints the path to use as its last
# line on stdout (messages go to stderr), so other scripts can do  w=$(scripts/get-weights.sh | tail -n 1).
#
# Order: $NST_WEIGHTS (must exist), weights/vgg19.safetensors, ../shared/weights/vgg19-conv.safetensors,
# then a download of torchvision's vgg19-dcbb9e9d.pth (548 MB; SHA-256 must start with dcbb9e9d),
# converted with build/convert_weights into weights/vgg19.safetensors (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "get-weights: $*" >&2; }

if [ -n "${NST_WEIGHTS:-}" ]; then
  [ -f "$NST_WEIGHTS" ] || { say "NST_WEIGHTS=$NST_WEIGHTS does not exist"; exit 1; }
  say "using NST_WEIGHTS"; echo "$NST_WEIGHTS"; exit 0
fi
out=weights/vgg19.safetensors
if [ -f "$out" ]; then say "found $out"; echo "$out"; exit 0; fi
if [ -f ../shared/weights/vgg19-conv.safetensors ]; then
  say "found ../shared/weights/vgg19-conv.safetensors"; echo "../shared/weights/vgg19-conv.safetensors"; exit 0
fi

url=https://download.pytorch.org/models/vgg19-dcbb9e9d.pth
part=weights/vgg19-dcbb9e9d.pth.part
mkdir -p weights
say "downloading $url"
if ! curl -fL --retry 2 --connect-timeout 20 -o "$part" "$url"; then
  rm -f "$part"
  say "download failed (offline?). Either fetch $url yourself and run"
  say "    build/convert_weights vgg19-dcbb9e9d.pth $out"
  say "or point NST_WEIGHTS at any VGG-19 weights file (safetensors or .pth)."
  exit 1
fi
sum=$(sha256sum "$part" | cut -c1-8)
if [ "$sum" != dcbb9e9d ]; then
  rm -f "$part"; say "checksum mismatch: SHA-256 starts with $sum, expected dcbb9e9d"; exit 1
fi
if [ ! -x build/convert_weights ]; then
  say "building convert_weights"
  cmake -S . -B build -G Ninja >&2 && cmake --build build --target convert_weights >&2
fi
# torchvision's file states no input convention; it uses torchvision's (RGB, 0..1, ImageNet mean/std),
# which the converter writes into the metadata.
build/convert_weights "$part" "$out" >&2
rm -f "$part"
echo "$out"
