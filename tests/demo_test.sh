#!/usr/bin/env bash
# scripts/demo.sh as a user runs it, with the stylize this build made (run by ctest):
#   run      the README's first command on the committed examples (docs/examples/), at 48 px and 3
#            iterations instead of minutes: exit 0, a complete PNG whose size follows from the content
#            image's, the --gpu that the binary and the machine support, the weights found locally.
#            Without VGG-19 weights on this machine it skips (exit 77): the demo would download 548 MB.
#   missing  a content or style image that does not exist: a non-zero exit that names the file, before
#            anything is built or run.
# Neither installs packages nor configures or builds anything (NST_DEMO_SKIP_INSTALL, NST_DEMO_STYLIZE).
# usage: demo_test.sh run|missing STYLIZE SOURCE_DIR WORK_DIR
set -euo pipefail
mode=$1 stylize=$2 src=$3 work=$4
fail() { echo "FAIL: $*"; [ ! -f "$work/demo.log" ] || { echo "--- demo's output:"; cat "$work/demo.log"; }; exit 1; }
case ${NST_WEIGHTS:-} in "" | /*) ;; *) export NST_WEIGHTS=$PWD/$NST_WEIGHTS ;; esac  # before the cd below
rm -rf "$work" && mkdir -p "$work" && cd "$work"
unset NST_DEMO_GPU NST_DEMO_BUILD_DIR NST_DEMO_SIZE NST_DEMO_ITERATIONS NST_DEMO_OUTPUT
export NST_DEMO_STYLIZE=$stylize NST_DEMO_SKIP_INSTALL=1

hex() { od -An -tx1 -v "$@" | tr -d ' \n'; }
# "WIDTH HEIGHT" of a PNG or a JPEG, from its header.
image_size() {
  local f=$1 i m
  if [ "$(hex -N8 "$f")" = 89504e470d0a1a0a ]; then  # PNG: IHDR's width and height, big-endian
    local ihdr
    ihdr=$(hex -j16 -N8 "$f")
    echo "$((16#${ihdr:0:8})) $((16#${ihdr:8:8}))"
    return 0
  fi
  [ "$(hex -N2 "$f")" = ffd8 ] || return 1
  local -a b  # JPEG: walk the segments up to the first start-of-frame
  read -r -a b <<<"$(od -An -tu1 -v "$f" | tr '\n' ' ')"
  i=2
  while ((i + 8 < ${#b[@]})); do
    ((b[i] == 255)) || return 1
    m=${b[i + 1]}
    if ((m == 255)); then i=$((i + 1)); continue; fi
    if ((m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)); then
      echo "$((b[i + 7] * 256 + b[i + 8])) $((b[i + 5] * 256 + b[i + 6]))"
      return 0
    fi
    i=$((i + 2 + b[i + 2] * 256 + b[i + 3]))
  done
  return 1
}

case $mode in
run)
  if [ -n "${NST_WEIGHTS:-}" ]; then
    echo "weights: NST_WEIGHTS=$NST_WEIGHTS"
  elif [ -f "$src/weights/vgg19.safetensors" ] || [ -f "$src/../shared/weights/vgg19-conv.safetensors" ]; then
    echo "weights: present where scripts/get-weights.sh looks first"
  else
    echo "NST_SKIPPED: no VGG-19 weights here (NST_WEIGHTS, weights/vgg19.safetensors or"
    echo "../shared/weights/vgg19-conv.safetensors); scripts/demo.sh would download 548 MB"
    exit 77
  fi
  set +e
  NST_DEMO_SIZE=48 NST_DEMO_ITERATIONS=3 NST_DEMO_OUTPUT=demo.png bash "$src/scripts/demo.sh" > demo.log 2>&1
  rc=$?
  set -e
  [ $rc -eq 0 ] || fail "scripts/demo.sh exited with $rc"
  # The default pair is the committed one, not ../shared's.
  line=$(grep '^== stylizing ' demo.log) || fail "no '== stylizing' line"
  content=$(sed -E 's/^== stylizing (.*) in the style of .*/\1/' <<<"$line")
  style=$(sed -E 's/.* in the style of (.*) at [0-9]+px.*/\1/' <<<"$line")
  for f in "$content" "$style"; do
    case $f in docs/examples/*) ;; *) fail "the default input $f is not in docs/examples/" ;; esac
    if git -C "$src" rev-parse --git-dir > /dev/null 2>&1; then
      git -C "$src" ls-files --error-unmatch -- "$f" > /dev/null 2>&1 || fail "the default input $f is not committed"
    fi
  done
  grep -q ' at 48px, 3 iterations,' <<<"$line" || fail "NST_DEMO_SIZE/NST_DEMO_ITERATIONS not used: $line"
  grep -q '^get-weights: \(found\|using NST_WEIGHTS\)' demo.log || fail "the weights were not found locally"
  # The device: a build without CUDA, or a machine without a GPU, gets --gpu -1.
  if "$stylize" --version | grep -q ', with CUDA' && nvidia-smi -L 2>/dev/null | grep -q '^GPU 0'; then
    want_gpu=0 want_device="cuda:0"
  else
    want_gpu=-1 want_device="cpu"
  fi
  grep -q -- "--gpu $want_gpu (" demo.log || fail "expected --gpu $want_gpu: $line"
  grep -q "^wrote .*demo.png: 3 evaluations .* on $want_device" demo.log || fail "stylize did not run on $want_device"
  grep -q "^== wrote $work/demo.png\$" demo.log || fail "no '== wrote $work/demo.png' (NST_DEMO_OUTPUT from the caller's folder)"
  # The picture: a complete PNG, the long side 48, the other in the content's proportion (rounded).
  [ -f demo.png ] || fail "no demo.png"
  [ "$(hex -N8 demo.png)" = 89504e470d0a1a0a ] || fail "demo.png does not start with the PNG signature"
  [ "$(tail -c 12 demo.png | hex)" = 0000000049454e44ae426082 ] || fail "demo.png does not end with an IEND chunk"
  read -r cw ch <<<"$(image_size "$src/$content")" || fail "cannot read the size of $content"
  if ((cw >= ch)); then ew=48 eh=$(((2 * ch * 48 + cw) / (2 * cw))); else eh=48 ew=$(((2 * cw * 48 + ch) / (2 * ch))); fi
  read -r w h <<<"$(image_size demo.png)"
  [ "$w $h" = "$ew $eh" ] || fail "demo.png is ${w}x$h, expected ${ew}x$eh (content ${cw}x$ch at 48 px)"
  echo "demo_test: scripts/demo.sh stylized $content in the style of $style: ${w}x$h PNG, --gpu $want_gpu"
  ;;
missing)
  # Relative names, from the caller's folder: the error names the file where the user meant it.
  # Tiny weights: should the check be broken, the demo must not go on to download 548 MB.
  export NST_WEIGHTS=$src/tests/fixtures/vgg_tiny.safetensors
  pictures=("$src"/docs/examples/*.jpg)
  painting=${pictures[0]}
  for which in content style; do
    if [ $which = content ]; then args=(no-such-photo.jpg "$painting" never.png) missing_file=$work/no-such-photo.jpg
    else args=("$painting" no-such-painting.jpg never.png) missing_file=$work/no-such-painting.jpg; fi
    set +e
    bash "$src/scripts/demo.sh" "${args[@]}" > demo.log 2>&1
    rc=$?
    set -e
    [ $rc -ne 0 ] || fail "a missing $which image: exit 0"
    grep -qF "demo: $which image '$missing_file' not found" demo.log || fail "the error does not name $missing_file"
    ! grep -q '^== stylizing' demo.log || fail "it went on to stylize"
    [ ! -e never.png ] || fail "an output was written"
  done
  echo "demo_test: a missing content or style image stops scripts/demo.sh with the file named"
  ;;
*) echo "usage: demo_test.sh run|missing STYLIZE SOURCE_DIR WORK_DIR" >&2; exit 2 ;;
esac
