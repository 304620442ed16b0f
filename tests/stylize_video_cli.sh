#!/usr/bin/env bash
# stylize_video's command line on the real binary (run by ctest), for a folder of frames in and PNG frames out:
#  1. an uninterrupted run writes frame_00001.png ... and removes its spent checkpoint;
#  2. the same run killed with SIGKILL after its second frame, then run again with the same command:
#     it says it resumes, and every frame equals the uninterrupted run's byte for byte;
#  3. bad input: each refusal is one line naming the flag or file, exit 1, before any frame is written:
#     a missing folder, a folder with no images, frames of different sizes, a video without the ffmpeg
#     program (PATH without it), an output folder that cannot be made, another run's frames; and
#     stylize's flags that do not apply to video (masks, tiles, scales, preview, colour control, --resume).
# usage: stylize_video_cli.sh STYLIZE_VIDEO FIXTURES_DIR WORK_DIR
set -euo pipefail
sv=$1 fx=$2 work=$3
rm -rf "$work" && mkdir -p "$work/in" && cd "$work"
for i in 1 2 3 4 5; do cp "$fx/vgg_preview.png" "in/frame_$i.png"; done
args=(--content-video in --style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors" --image-size 48
      --num-iterations 300 --num-iterations-later 400 --gpu -1)

"$sv" "${args[@]}" --output-frames full > full.log
for i in 1 2 3 4 5; do [ -f "full/frame_0000$i.png" ] || { echo "FAIL: full/frame_0000$i.png missing"; cat full.log; exit 1; }; done
[ ! -e full/stylize_video.ckpt.safetensors ] || { echo "FAIL: the spent checkpoint was not removed"; exit 1; }
grep -q "frame 5/5" full.log || { echo "FAIL: no progress line for frame 5"; cat full.log; exit 1; }
grep -q "clip ETA" full.log || { echo "FAIL: no clip ETA"; cat full.log; exit 1; }

wait_for() { for _ in $(seq 1 1200); do [ -f "$1" ] && return 0; sleep 0.05; done; echo "FAIL: $1 never appeared"; exit 1; }
"$sv" "${args[@]}" --output-frames killed > killed.log & pid=$!
wait_for killed/frame_00002.png
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[ -f killed/stylize_video.ckpt.safetensors ] || { echo "FAIL: no checkpoint after two frames"; exit 1; }
[ ! -f killed/frame_00005.png ] || { echo "FAIL: the run ended before the kill; make it longer"; exit 1; }
"$sv" "${args[@]}" --output-frames killed > resumed.log
grep -q "resuming at frame" resumed.log || { echo "FAIL: the second run did not resume"; cat resumed.log; exit 1; }
for i in 1 2 3 4 5; do
  cmp "full/frame_0000$i.png" "killed/frame_0000$i.png" || { echo "FAIL: frame $i differs after the resume"; exit 1; }
done

refuse() {  # refuse "what it must say" args...: exit 1, the message, no frame written
  local says=$1; shift
  set +e; "${run[@]}" "$@" > refuse.out 2> refuse.err; local rc=$?; set -e
  [ $rc -eq 1 ] || { echo "FAIL: exit $rc for $*"; cat refuse.err; exit 1; }
  grep -q -- "$says" refuse.err || { echo "FAIL: expected '$says', got:"; cat refuse.err; exit 1; }
  [ "$(wc -l < refuse.err)" -eq 1 ] || { echo "FAIL: more than one line:"; cat refuse.err; exit 1; }
}
run=("$sv")
common=(--style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors" --image-size 48 --gpu -1 --output-frames o)
refuse "--content-video nowhere: no such file or folder" --content-video nowhere "${common[@]}"
mkdir -p empty && refuse "--content-video empty" --content-video empty "${common[@]}"
mkdir -p mixed && cp "$fx/vgg_preview.png" mixed/a1.png && cp "$fx/tiny_rgb.png" mixed/a2.png
refuse "different sizes\|size" --content-video mixed "${common[@]}"
echo "not a video" > clip.mp4
run=(env PATH=/nonexistent "$sv")  # no ffmpeg on the program's PATH
refuse "apt-get install ffmpeg" --content-video clip.mp4 "${common[@]}"
run=("$sv")
refuse "does not exist" --content-video in --style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors" \
  --gpu -1 --output-frames missing/deeper
touch a-file && refuse "exists and is not a folder" --content-video in "${common[@]:0:8}" --output-frames a-file
refuse "already holds frame_00001.png" "${args[@]}" --output-frames full
# stylize's flags that do not apply to video: a sentence each (not CLI11's "not expected", exit 109).
refuse "--style-masks: masks do not apply to video yet" --content-video in "${common[@]}" --style-masks m.png
refuse "--tile-size: tiles do not apply to video yet" --content-video in "${common[@]}" --tile-size 64
refuse "--scales: coarse-to-fine scales do not apply to video yet" --content-video in "${common[@]}" --scales 32,48
refuse "--preview-port: the live preview does not apply to video yet" --content-video in "${common[@]}" --preview-port 0
refuse "--color-control: colour control does not apply to video yet" --content-video in "${common[@]}" --color-control luminance
refuse "--resume: to continue a stopped run, run the same command again" --content-video in "${common[@]}" --resume x
[ ! -e o ] || { echo "FAIL: a refused run made its frames folder"; exit 1; }

# --model: one forward pass per frame; --style-mix-end interpolates the style weights from the first
# frame (equal to a run of --style-mix alone) to the last (equal to a run of the end mix alone).
"$sv" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 0 --style-mix-end 2 --content-video in \
  --output-frames ff --gpu -1 > ff.log
grep -q "frames per second" ff.log || { echo "FAIL: --model printed no frames per second"; cat ff.log; exit 1; }
"$sv" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 0 --content-video in --output-frames f0 --gpu -1 > /dev/null
"$sv" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 2 --content-video in --output-frames f2 --gpu -1 > /dev/null
cmp ff/frame_00001.png f0/frame_00001.png || { echo "FAIL: the first frame is not --style-mix's"; exit 1; }
cmp ff/frame_00005.png f2/frame_00005.png || { echo "FAIL: the last frame is not --style-mix-end's"; exit 1; }
! cmp -s ff/frame_00003.png f0/frame_00003.png && ! cmp -s ff/frame_00003.png f2/frame_00003.png ||
  { echo "FAIL: the middle frame is not a mix"; exit 1; }
"$sv" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 0 --style-mix-end 2 --content-video in \
  --output-frames ff --gpu -1 > /dev/null  # the same command again rewrites its own frames
# --steady: the pictures change between frames (the mix moves) over a still clip, so the flow is reliable
# everywhere and blending in the previous picture must lower the warping error between pictures.
"$sv" --model "$fx/transformer_tiny_cond.safetensors" --style-mix 0 --style-mix-end 2 --steady 0.5 --content-video in \
  --output-frames fs --gpu -1 > fs.log
read -r plain steadied < <(sed -n 's/^warping error between consecutive pictures: \([0-9.e-]*\) as the network paints them, \([0-9.e-]*\) steadied.*/\1 \2/p' fs.log)
awk -v p="$plain" -v s="$steadied" 'BEGIN { exit !(p > 0 && s < 0.5 * p) }' ||
  { echo "FAIL: --steady 0.5: warping error $steadied steadied against $plain plain"; cat fs.log; exit 1; }
refuse "--steady must be at least 0" --content-video in --model "$fx/transformer_tiny.pth" --output-frames fm --steady 1
refuse "--steady applies with --model" --content-video in --style-image "$fx/tiny_rgb.png" --output-frames fm --steady 0.5
refuse "--temporal-weight does not apply with --model" --content-video in --model "$fx/transformer_tiny.pth" \
  --output-frames fm --temporal-weight 5
refuse "already holds frame_00001.png of another run" --content-video in --model "$fx/transformer_tiny.pth" \
  --output-frames ff
echo "stylize_video_cli: frames in and out, SIGKILL resumed to the uninterrupted frames, 17 refusals; --model with an interpolated style mix, steadied (warping error $plain -> $steadied)"
