#!/usr/bin/env bash
# stylize_video with a video file in and a video file out, through the ffmpeg program (run by ctest; says
# NST_SKIPPED where ffmpeg is not installed): an 8-frame MP4 of a photo panned 2 px per frame becomes an
# 8-frame MP4 of the same size and rate, the frames folder made for it is removed, and a file ffmpeg
# cannot read is refused with ffmpeg's reason.
# usage: stylize_video_mp4.sh STYLIZE_VIDEO FIXTURES_DIR EXAMPLES_DIR WORK_DIR
set -euo pipefail
sv=$1 fx=$2 ex=$3 work=$4
if ! command -v ffmpeg > /dev/null || ! command -v ffprobe > /dev/null; then
  echo "NST_SKIPPED: the ffmpeg program is not installed (Debian: apt-get install ffmpeg)"; exit 0
fi
rm -rf "$work" && mkdir -p "$work" && cd "$work"
ffmpeg -v error -loop 1 -i "$ex/chelsea.jpg" -vf "scale=160:-2,crop=96:64:2*n:20" -r 10 -frames:v 8 \
  -c:v libx264 -pix_fmt yuv420p clip.mp4
"$sv" --content-video clip.mp4 --style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors" \
  --image-size 96 --num-iterations 20 --num-iterations-later 10 --gpu -1 --output-video out.mp4 > run.log
probe() { ffprobe -v error -select_streams v:0 -count_frames -show_entries "stream=$1" -of csv=p=0 out.mp4; }
[ "$(probe nb_read_frames)" = 8 ] || { echo "FAIL: out.mp4 has $(probe nb_read_frames) frames, not 8"; cat run.log; exit 1; }
[ "$(probe width,height)" = "96,64" ] || { echo "FAIL: out.mp4 is $(probe width,height)"; exit 1; }
[ "$(probe r_frame_rate)" = "10/1" ] || { echo "FAIL: out.mp4 runs at $(probe r_frame_rate), not the input's 10/1"; exit 1; }
[ ! -e out.mp4.frames ] || { echo "FAIL: the frames folder made for --output-video was left behind"; exit 1; }
grep -q "mean warping error" run.log || { echo "FAIL: no warping error reported"; cat run.log; exit 1; }
echo "this is not a video" > fake.mp4
set +e; "$sv" --content-video fake.mp4 --style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors" \
  --gpu -1 --output-video never.mp4 2> fake.err; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "fake.mp4" fake.err || { echo "FAIL: a fake video was not refused clearly (exit $rc)"; cat fake.err; exit 1; }
[ ! -e never.mp4 ] && [ ! -e never.mp4.frames ] || { echo "FAIL: a refused run wrote something"; exit 1; }
echo "stylize_video_mp4: MP4 in, 8 frames of 96x64 at 10 fps out"
