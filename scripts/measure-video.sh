#!/usr/bin/env bash
# Measures stylize_video's temporal consistency (docs/nst.md, "Video"): the mean warping error of
# independently stylized frames (--temporal-weight 0) against the temporal term, on
#   pan:  a photo panned 2 px per frame, 8 frames at 96x64 (issue #15's criterion), with DIS and Farneback;
#   zoom: a 12-frame slow zoom and pan over a shared photo, stylized at 256 px,
# and prints a Markdown table with the machine it ran on. Needs a built stylize_video, ffmpeg, and the
# VGG-19 weights and images of ../shared (or NST_WEIGHTS and NST_VIDEO_IMAGES).
#   scripts/measure-video.sh [BUILD_DIR [WORK_DIR]]     # defaults: build, /tmp/nst-measure-video
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} work=${2:-/tmp/nst-measure-video}
sv=$PWD/$build/stylize_video
weights=${NST_WEIGHTS:-$PWD/../shared/weights/vgg19-conv.safetensors}
images=${NST_VIDEO_IMAGES:-$PWD/../shared/images}
for f in "$sv" "$weights" "$images/astronaut.png" "$images/starry_night.jpg"; do
  [ -e "$f" ] || { echo "measure-video: $f is missing" >&2; exit 1; }
done
command -v ffmpeg > /dev/null || { echo "measure-video: needs the ffmpeg program (apt-get install ffmpeg)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/pan" "$work/zoom"
# Lossless PNG frames, so that the input's own motion is the only change between frames.
ffmpeg -v error -loop 1 -i docs/examples/chelsea.jpg -vf "scale=160:-2,crop=96:64:2*n:20" -frames:v 8 "$work/pan/f%d.png"
ffmpeg -v error -loop 1 -i "$images/astronaut.png" \
  -vf "scale=1024:-2,crop=1024:683:0:60,zoompan=z='1.15+0.006*on':x='120+3*on':y='90':d=1:s=384x256:fps=12" -frames:v 12 "$work/zoom/f%d.png"

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
isa=$(grep -m1 -o -w -E "avx512f|avx2" /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "machine: $cpu, $(nproc) cores, ${isa:-no AVX2}; stylize_version: $("$sv" --version)"
echo
echo "| clip | flow | frames, size | iterations (first, later) | independent: error | temporal: error | ratio | s/frame (ind., temp.) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
run() {  # run CLIP SIZE FLOW ITERS LATER
  local clip=$1 size=$2 flow=$3 it=$4 later=$5 e=() s=()
  for tw in 0 1000; do
    local o="$work/out-$clip-$flow-$tw"
    "$sv" --content-video "$work/$clip" --style-image "$images/starry_night.jpg" --weights "$weights" --gpu -1 \
      --image-size "$size" --num-iterations "$it" --num-iterations-later "$later" --flow "$flow" \
      --temporal-weight "$tw" --output-frames "$o" --log-json "$o.json" > "$o.log"
    e+=("$(python3 -c "import json,sys; print('%.3g' % json.load(open(sys.argv[1]))['summary']['mean_warping_error'])" "$o.json")")
    s+=("$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('%.1f' % (j['summary']['seconds']/j['summary']['frames']))" "$o.json")")
  done
  local n; n=$(ls "$work/$clip" | wc -l)
  local wh; wh=$(head -1 "$work/out-$clip-$flow-0.log" | grep -o "stylized at [0-9x]*" | cut -d' ' -f3)
  echo "| $clip | $flow | $n, $wh | $it, $later | ${e[0]} | ${e[1]} | $(python3 -c "print('%.2fx' % (${e[1]}/${e[0]}))") | ${s[0]}, ${s[1]} |"
}
run pan 96 dis 60 30
run pan 96 farneback 60 30
run zoom 256 dis 150 75
