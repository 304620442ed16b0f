#!/usr/bin/env bash
# Finds VGG-19 weights, or downloads torchvision's and converts them. Prints the path to use as its last
# line on stdout (messages go to stderr), so other scripts can do  w=$(scripts/get-weights.sh | tail -n 1).
#
# Order: $NST_WEIGHTS (must exist), weights/vgg19.safetensors, ../shared/weights/vgg19-conv.safetensors,
# then a download of torchvision's vgg19-dcbb9e9d.pth with curl (548 MB; SHA-256 must start with dcbb9e9d),
# converted with convert_weights into weights/vgg19.safetensors (git-ignored). The download goes to a
# .part file that is removed on any failure or interruption; the converted file is written under a
# temporary name and renamed, so weights/vgg19.safetensors is only ever complete.
# NST_BUILD_DIR (default build) is the folder whose convert_weights is used (built there when missing).
set -euo pipefail
# NST_WEIGHTS is a path from where the caller stands, not from the repository.
case ${NST_WEIGHTS:-} in "" | /*) ;; *) NST_WEIGHTS=$PWD/$NST_WEIGHTS ;; esac
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
build=${NST_BUILD_DIR:-build}
manual() {
  say "Either fetch $url yourself and run"
  say "    $build/convert_weights vgg19-dcbb9e9d.pth $out"
  say "or point NST_WEIGHTS at any VGG-19 weights file (safetensors or .pth)."
}
if ! command -v curl >/dev/null; then
  say "no weights found, and curl is not installed to download them (scripts/install-deps.sh installs"
  say "curl and ca-certificates)."
  manual
  exit 1
fi
mkdir -p weights
trap 'rm -f "$part"' EXIT  # never leave a partial download behind, whatever stops the script
say "downloading $url"
if ! curl -fL --retry 3 --connect-timeout 20 -o "$part" "$url"; then
  say "download failed (offline?)."
  manual
  exit 1
fi
sum=$(sha256sum "$part" | cut -c1-8)
if [ "$sum" != dcbb9e9d ]; then
  say "checksum mismatch: SHA-256 starts with $sum, expected dcbb9e9d"; exit 1
fi
convert=$build/convert_weights
if [ ! -x "$convert" ] && [ -x "$build/Release/convert_weights" ]; then convert=$build/Release/convert_weights; fi
if [ ! -x "$convert" ]; then
  say "building convert_weights in $build"
  scripts/configure-build.sh "$build"
  cmake --build "$build" --target convert_weights --config Release -j "$(nproc 2>/dev/null || echo 2)" >&2
  [ -x "$convert" ] || convert=$build/Release/convert_weights  # multi-config generators
fi
# torchvision's file states no input convention; it uses torchvision's (RGB, 0..1, ImageNet mean/std),
# which the converter writes into the metadata.
"$convert" "$part" "$out" >&2
echo "$out"
