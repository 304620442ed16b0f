#!/usr/bin/env bash
# stylize --model with the real binary (run by ctest), on the tiny TransformerNet fixtures: a .pth gives a
# picture of the photo's own size (an odd one: padded to the network's multiple and cropped back), a
# multi-style network takes --style-mix, and each refusal is one line naming the flag, exit 1, nothing
# written: a multi-style network without --style-mix, a style that does not exist, a Gatys flag, a file
# named .onnx that is not ONNX, a file that is not a TransformerNet, an output that is the model itself.
# Then an ONNX multi-style network (tests/make_onnx_fixtures.py) with a blend, at an odd size.
# usage: stylize_model.sh STYLIZE FIXTURES_DIR EXAMPLES_DIR WORK_DIR
set -euo pipefail
stylize=$1 fx=$2 ex=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }

"$stylize" --model "$fx/transformer_tiny.pth" --content-image "$ex/chelsea.jpg" --output-image plain.png --gpu -1 > plain.log
[ "$(png_size plain.png)" = 451x300 ] || { echo "FAIL: plain.png is $(png_size plain.png), not the photo's 451x300"; exit 1; }
grep -q "in one forward pass" plain.log || { echo "FAIL: no summary line"; cat plain.log; exit 1; }
"$stylize" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 0:0.5,2:0.5 --image-size 99 \
  --content-image "$ex/chelsea.jpg" --output-image mix.png --gpu -1 > mix.log
[ "$(png_size mix.png)" = 99x66 ] || { echo "FAIL: mix.png is $(png_size mix.png), not 99x66"; exit 1; }

refuse() {  # refuse "what it must say" args...
  local says=$1; shift
  set +e; "$stylize" "$@" --content-image "$ex/chelsea.jpg" --gpu -1 > refuse.out 2> refuse.err; local rc=$?; set -e
  [ $rc -eq 1 ] || { echo "FAIL: exit $rc for $*"; cat refuse.err; exit 1; }
  grep -q -- "$says" refuse.err || { echo "FAIL: expected '$says', got:"; cat refuse.err; exit 1; }
  [ "$(wc -l < refuse.err)" -eq 1 ] || { echo "FAIL: more than one line:"; cat refuse.err; exit 1; }
  [ ! -e refused.png ] || { echo "FAIL: a refused run wrote its output"; exit 1; }
}
refuse "holds 3 styles: choose with --style-mix" --model "$fx/transformer_tiny_cond.safetensors" --output-image refused.png
refuse "style 5 does not exist" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 5 --output-image refused.png
refuse "holds one style" --model "$fx/transformer_tiny.pth" --style-mix 0 --output-image refused.png
refuse "--num-iterations does not apply with --model" --model "$fx/transformer_tiny.pth" --num-iterations 5 --output-image refused.png
echo "not a network" > fake.onnx
refuse "--model fake.onnx: not an ONNX model" --model fake.onnx --output-image refused.png
refuse "holds 3 styles: choose with --style-mix" --model "$fx/onnx_tiny_multistyle.onnx" --output-image refused.png
refuse "not a TransformerNet" --model "$fx/vgg_tiny.safetensors" --output-image refused.png
cp "$fx/transformer_tiny.pth" model.pth
refuse "--output-image" --model model.pth --output-image model.pth
cmp model.pth "$fx/transformer_tiny.pth" || { echo "FAIL: the model was overwritten"; exit 1; }
"$stylize" --model "$fx/onnx_tiny_multistyle.onnx" --style-mix 0:1,2:3 --image-size 101 \
  --content-image "$ex/chelsea.jpg" --output-image onnx.png --gpu -1 > onnx.log
[ "$(png_size onnx.png)" = 101x67 ] || { echo "FAIL: onnx.png is $(png_size onnx.png), not 101x67"; exit 1; }
grep -q "InstanceNorm (fused)" onnx.log || { echo "FAIL: the ONNX network was not described"; cat onnx.log; exit 1; }
# A folder in, a folder out: every photo painted, an unreadable one skipped and counted (exit 1).
mkdir -p photos && cp "$ex/chelsea.jpg" photos/a.jpg && cp "$ex/starry_night.jpg" photos/b.jpg && echo junk > photos/c.png
set +e; "$stylize" --model "$fx/onnx_tiny_multistyle.onnx" --style-mix 1 --image-size 48 --content-image photos \
  --output-image painted --gpu -1 > folder.log 2> folder.err; rc=$?; set -e
[ $rc -eq 1 ] || { echo "FAIL: a folder with an unreadable photo gave exit $rc"; cat folder.err; exit 1; }
grep -q "1 of 3 photos could not be painted (c.png)" folder.err || { echo "FAIL: folder error"; cat folder.err; exit 1; }
[ "$(png_size painted/a.png)" = 48x32 ] && [ -f painted/b.png ] && [ ! -e painted/c.png ] || { echo "FAIL: painted/ holds $(ls painted)"; exit 1; }
set +e; "$stylize" --model "$fx/onnx_tiny_multistyle.onnx" --style-mix 1 --content-image photos --output-image photos/ --gpu -1 2> same.err; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "the same folder as --content-image" same.err || { echo "FAIL: output folder = input folder: exit $rc"; cat same.err; exit 1; }
[ "$(ls photos | wc -l)" -eq 3 ] || { echo "FAIL: the photos folder changed: $(ls photos)"; exit 1; }
# Every style in a grid: 3 styles, 2 columns and 2 rows of 40x27 cells with 4-pixel gaps.
"$stylize" --model "$fx/onnx_tiny_multistyle.onnx" --contact-sheet --image-size 40 --content-image "$ex/chelsea.jpg" \
  --output-image sheet.png --gpu -1 > sheet.log
[ "$(png_size sheet.png)" = 84x58 ] || { echo "FAIL: sheet.png is $(png_size sheet.png), not 84x58"; exit 1; }
refuse "--contact-sheet: --model" --model "$fx/transformer_tiny.pth" --contact-sheet --output-image refused.png
refuse "--strength must be between 0" --model "$fx/transformer_tiny.pth" --strength 1.5 --output-image refused.png
refuse "--strength applies with --model" --strength 0.5 --output-image refused.png --style-image "$ex/starry_night.jpg"
"$stylize" --model "$fx/transformer_tiny.pth" --strength 0.25 --image-size 64 --content-image "$ex/chelsea.jpg" --output-image soft.png --gpu -1 > soft.log
[ "$(png_size soft.png)" = 64x43 ] || { echo "FAIL: soft.png"; exit 1; }
# An arbitrary-style network (int8, channels-last; tests/make_qdq_fixtures.py): any painting as the style,
# by the predictor given with --style-predictor; without a painting, or a painting for a network that holds
# its styles, refused by name.
"$stylize" --model "$fx/onnx_tiny_qdq_nhwc.onnx" --style-predictor "$fx/onnx_tiny_qdq_predict.onnx" --style-image "$ex/starry_night.jpg" \
  --image-size 90 --content-image "$ex/chelsea.jpg" --output-image any.png --gpu -1 > any.log
[ "$(png_size any.png)" = 90x60 ] || { echo "FAIL: any.png is $(png_size any.png), not 90x60"; exit 1; }
grep -q "the style of .*starry_night.jpg by .*onnx_tiny_qdq_predict.onnx (6 numbers" any.log || { echo "FAIL: no style line"; cat any.log; exit 1; }
"$stylize" --model "$fx/onnx_tiny_qdq_nhwc.onnx" --style-predictor "$fx/onnx_tiny_qdq_predict.onnx" --style-image "$ex/chelsea.jpg" \
  --image-size 90 --content-image "$ex/chelsea.jpg" --output-image any2.png --gpu -1 > any2.log
! cmp -s any.png any2.png || { echo "FAIL: two paintings gave the same picture"; exit 1; }
refuse "paints in the style of any picture: give one with --style-image" --model "$fx/onnx_tiny_qdq_nhwc.onnx" --output-image refused.png
refuse "--style-predictor: none given and --model's name has no 'transform'" --model "$fx/onnx_tiny_qdq_nhwc.onnx" \
  --style-image "$ex/starry_night.jpg" --output-image refused.png
refuse "--style-image: --model .* holds its styles" --model "$fx/onnx_tiny_multistyle.onnx" --style-mix 1 \
  --style-image "$ex/starry_night.jpg" --output-image refused.png
refuse "--style-predictor .*onnx_tiny_multistyle.onnx" --model "$fx/onnx_tiny_qdq_nhwc.onnx" --style-predictor "$fx/onnx_tiny_multistyle.onnx" \
  --style-image "$ex/starry_night.jpg" --output-image refused.png
refuse "--style-image missing.jpg" --model "$fx/onnx_tiny_qdq_nhwc.onnx" --style-predictor "$fx/onnx_tiny_qdq_predict.onnx" \
  --style-image missing.jpg --output-image refused.png
echo "stylize_model: 451x300, 99x66, 101x67 and 90x60 pictures from one- and three-style networks (.pth, safetensors, ONNX) and an arbitrary-style one; a folder; a contact sheet; 18 refusals"
