#!/usr/bin/env bash
# stylize and vgg_features refuse bad requests before any work, with the real binaries (run by ctest):
# an output that is an input under another spelling (the input left byte for byte), an output that is a
# folder, a checkpoint in a missing folder, an image too small for VGG-19's poolings (said in pixels and
# flags, with the size that would do), an unknown --precision, --init-image without --init image (a warning, the run goes on),
# neural-style's -original_colors with a value other than 0/1, --coarse-style-layers without its image,
# empty --style-layers, --seed -1, --gpu -2, a missing --resume file, --help's usage line,
# and --gpu 0 where no GPU can run (says why, names --gpu -1; skipped where a GPU or the CUDA-on-CPU layer
# exists).
# Each refusal must come in well under a second and exit non-zero.
# usage: stylize_refusals.sh STYLIZE VGG_FEATURES FIXTURES_DIR WORK_DIR
set -euo pipefail
stylize=$1 features=$2 fx=$3 work=$4
rm -rf "$work" && mkdir -p "$work/sub" "$work/folder.png" && cd "$work"
cp "$fx/tiny_rgb.png" c.png
before=$(cksum < c.png)
inputs=(--style-image "$fx/vgg_preview.png" --weights "$fx/vgg_tiny.safetensors" --num-iterations 2)
common=("${inputs[@]}" --gpu -1)
fails=0
# refuse EXPECTED_FRAGMENT PROGRAM ARGS...: the program must exit non-zero within 1 s, saying the fragment.
refuse() {
  local want=$1 start end out rc=0
  shift
  start=$(date +%s%N)
  out=$("$@" 2>&1) || rc=$?
  end=$(date +%s%N)
  if [ $rc -eq 0 ] || ! grep -qF -- "$want" <<<"$out" || (( (end - start) / 1000000 > 1000 )); then
    echo "FAIL: expected a refusal with '$want' in under 1 s; exit $rc after $(( (end - start) / 1000000 )) ms: $out"
    fails=$((fails + 1))
  fi
}
refuse "--output-image ./sub/../c.png is the same file as --content-image c.png" \
  "$stylize" --content-image c.png "${common[@]}" --output-image ./sub/../c.png
refuse "--log-json sub/../c.png is the same file as --content-image" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --log-json sub/../c.png
refuse "--output-image folder.png: is a folder" "$stylize" --content-image c.png "${common[@]}" --output-image folder.png
refuse "--checkpoint missing/x.ckpt: the folder missing does not exist" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --checkpoint missing/x.ckpt
refuse "--precision must be fp32 or tf32, not 'fp16'" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --precision fp16
refuse "--image-size 20 makes the content 20x14 pixels, too small for VGG-19's 4 poolings" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --image-size 20
# Issue #22, item 8: each of these was accepted silently or blamed on no flag.
refuse "--resume nothere.ckpt: no such checkpoint file" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --resume nothere.ckpt
refuse "-original_colors takes 0 or 1" "$stylize" --content-image c.png "${common[@]}" --output-image o.png -original_colors 2
refuse "--coarse-style-layers applies only with --coarse-style-image" \
  "$stylize" --content-image c.png "${common[@]}" --output-image o.png --coarse-style-layers relu3_1
refuse "--style-layers is empty" "$stylize" --content-image c.png "${common[@]}" --output-image o.png --style-layers ''
refuse "--seed: must be 0 or more, not '-1'" "$stylize" --content-image c.png "${common[@]}" --output-image o.png --seed -1
refuse "--gpu -2: a CUDA device index (0, 1, ...) or -1 for the CPU" \
  "$stylize" --content-image c.png "${inputs[@]}" --output-image o.png --gpu -2
help=$("$stylize" --help)
grep -q "^Usage: stylize \[OPTIONS\]" <<<"$help" && grep -q -- "--preview-port PORT  " <<<"$help" &&
  ! grep -q "INT:" <<<"$help" || { echo "FAIL: --help lacks the program's name or shows a validator's type: $(head -3 <<<"$help")"; fails=$((fails + 1)); }
[ "$(cksum < c.png)" = "$before" ] || { echo "FAIL: the content image changed"; fails=$((fails + 1)); }
[ ! -e o.png ] || { echo "FAIL: a refused run wrote o.png"; fails=$((fails + 1)); }

out=$("$stylize" --content-image c.png "${common[@]}" --image-size 32 --output-image w.png --init-image c.png 2>&1)
grep -qF "warning: --init-image c.png is used only with --init image" <<<"$out" && [ -f w.png ] ||
  { echo "FAIL: --init-image without --init image did not warn and run: $out"; fails=$((fails + 1)); }

# --gpu 0 where it cannot run: both programs say why and name --gpu -1.
if "$stylize" --content-image c.png "${inputs[@]}" --image-size 32 --output-image g.png --gpu 0 > gpu.log 2>&1; then
  echo "note: --gpu 0 ran here (a GPU, or the CUDA-on-CPU layer); its refusal is not tested on this machine"
else
  refuse "--gpu 0: " "$stylize" --content-image c.png "${inputs[@]}" --output-image o.png --gpu 0
  refuse "use --gpu -1 to run on the CPU" "$stylize" --content-image c.png "${inputs[@]}" --output-image o.png --gpu 0
  refuse "use --gpu -1 to run on the CPU" "$features" --weights "$fx/vgg_tiny.safetensors" --image c.png \
    --layers relu1_1 --out f.safetensors --gpu 0
fi
[ $fails -eq 0 ] || exit 1
echo "stylize_refusals: every refusal came before any work, named its flag, and left the inputs as they were"
