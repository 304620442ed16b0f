#!/usr/bin/env bash
# train_style with the real binary (run by ctest), tiny sizes and the vgg_tiny fixture as the loss network:
# it trains with progress lines, writes a model that stylize --model paints with, Ctrl-C (SIGINT) stops it
# after a step with a checkpoint that --resume continues to the same model as an uninterrupted run, and
# each refusal is one line naming the flag, exit 1, nothing written.
# usage: train_style_cli.sh TRAIN_STYLE STYLIZE FIXTURES_DIR EXAMPLES_DIR WORK_DIR
set -euo pipefail
train=$1 stylize=$2 fx=$3 ex=$4 work=$5
rm -rf "$work" && mkdir -p "$work/photos" && cd "$work"
cp "$ex/chelsea.jpg" photos/a.jpg && cp "$ex/starry_night.jpg" photos/b.jpg && cp "$fx/kind_rgb.jpg" photos/c.jpg
base=(--style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors" --gpu -1
      --batch-size 2 --image-size 32 --style-size 64 --learning-rate 0.01)
common=("${base[@]}" --content-dir photos --widths 4,8,8)

"$train" "${common[@]}" --output-model m.safetensors --iterations 12 --print-iter 4 --save-iter 6 --sample-dir samples \
  --sample-image "$ex/chelsea.jpg" > train.log
grep -q "^step 8/12  loss .*ETA .*  \[################........\]$" train.log || { echo "FAIL: no progress line"; cat train.log; exit 1; }
[ -s samples/step-000006.png ] && [ -s samples/step-000012.png ] || { echo "FAIL: no samples"; ls samples; exit 1; }
grep -q "^trained 12 steps" train.log || { echo "FAIL: no summary"; cat train.log; exit 1; }
"$stylize" --model m.safetensors --content-image "$ex/chelsea.jpg" --image-size 64 --output-image painted.png --gpu -1 > st.log
grep -q "TransformerNet (one style)" st.log || { echo "FAIL: stylize --model did not read the trained model"; cat st.log; exit 1; }

# An uninterrupted run of 40 steps, and the same run stopped by SIGINT, then resumed: the same model.
"$train" "${common[@]}" --output-model whole.safetensors --iterations 40 --print-iter 0 > whole.log
"$train" "${common[@]}" --output-model resumed.safetensors --iterations 40 --print-iter 1 --checkpoint run.ckpt \
  --save-iter 1000 > part.log 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "^step 3/" part.log 2>/dev/null && break; sleep 0.05; done
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc -eq 130 ] || { echo "FAIL: SIGINT gave exit $rc"; cat part.log; exit 1; }
grep -q "stopped after step" part.log && [ -f run.ckpt ] && [ ! -e resumed.safetensors ] ||
  { echo "FAIL: no checkpoint after SIGINT, or a model written"; cat part.log; exit 1; }
"$train" "${common[@]}" --output-model resumed.safetensors --iterations 40 --print-iter 0 --checkpoint run.ckpt \
  --resume run.ckpt > resume.log
grep -q "resuming run.ckpt after step" resume.log || { echo "FAIL: did not resume"; cat resume.log; exit 1; }
cmp whole.safetensors resumed.safetensors || { echo "FAIL: resumed model differs from the uninterrupted one"; exit 1; }

refuse() {  # refuse "what it must say" args...
  local says=$1; shift
  set +e; "$train" "$@" > refuse.out 2> refuse.err; local rc=$?; set -e
  [ $rc -ne 0 ] || { echo "FAIL: exit 0 for $*"; exit 1; }
  grep -q -- "$says" refuse.err || { echo "FAIL: expected '$says', got:"; cat refuse.err; exit 1; }
  [ ! -e refused.safetensors ] || { echo "FAIL: a refused run wrote its model"; exit 1; }
}
refuse "--content-dir nowhere: no such folder" "${base[@]}" --content-dir nowhere --output-model refused.safetensors
refuse "must end in .safetensors" "${common[@]}" --output-model refused.pth
refuse "--widths: three numbers" "${base[@]}" --content-dir photos --widths 4,8 --output-model refused.safetensors
refuse "--output-model" "${common[@]}" --output-model photos/a.jpg
cmp photos/a.jpg "$ex/chelsea.jpg" || { echo "FAIL: an input was overwritten"; exit 1; }
refuse "give one or the other" "${common[@]}" --add-style "$ex/chelsea.jpg" --from-model m.safetensors --output-model refused.safetensors
refuse "--add-style needs --from-model" "${base[@]:2}" --content-dir photos --add-style "$ex/chelsea.jpg" --output-model refused.safetensors
refuse "a one-style network" "${base[@]:2}" --content-dir photos --add-style "$ex/chelsea.jpg" --from-model m.safetensors \
  --output-model refused.safetensors
refuse "--content-dir is required" --style-image "$ex/starry_night.jpg" --output-model refused.safetensors
echo "train_style_cli: trained, painted, resumed bit for bit, refused"
