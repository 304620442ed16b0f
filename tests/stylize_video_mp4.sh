#!/usr/bin/env bash
# stylize_video with a video file in and a video file out, through the ffmpeg program (run by ctest; says
# NST_SKIPPED where ffmpeg is not installed): an 8-frame MP4 of a photo panned 2 px per frame becomes an
# 8-frame MP4 of the same size and rate, the frames folder made for it is removed, and a file ffmpeg
# cannot read is refused with ffmpeg's reason; an --output-video ffmpeg cannot write (o.txt) is refused
# before any frame; Ctrl-C sent to the whole process group, as a terminal does, stops the run with exit
# 130 and the way to continue (the ffmpeg decoder, in a group of its own, is not hit and not blamed),
# and the same command then finishes the video.
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
[ -z "$(ls -A | grep '^\.')" ] || { echo "FAIL: hidden files left behind (the output check's trial video?):"; ls -A; exit 1; }
grep -q "mean warping error" run.log || { echo "FAIL: no warping error reported"; cat run.log; exit 1; }
echo "this is not a video" > fake.mp4
set +e; "$sv" --content-video fake.mp4 --style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors" \
  --gpu -1 --output-video never.mp4 2> fake.err; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "fake.mp4" fake.err || { echo "FAIL: a fake video was not refused clearly (exit $rc)"; cat fake.err; exit 1; }
[ ! -e never.mp4 ] && [ ! -e never.mp4.frames ] || { echo "FAIL: a refused run wrote something"; exit 1; }

# --output-video in a format ffmpeg cannot write: refused at once, nothing left behind.
set +e; "$sv" --content-video clip.mp4 --style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors" \
  --gpu -1 --output-video o.txt 2> txt.err > txt.log; rc=$?; set -e
[ $rc -eq 1 ] && grep -q -- "--output-video o.txt: ffmpeg cannot write this file" txt.err ||
  { echo "FAIL: --output-video o.txt was not refused before work (exit $rc)"; cat txt.err; exit 1; }
! grep -q "^frame " txt.log || { echo "FAIL: frames were stylized before the refusal"; exit 1; }
[ -z "$(ls -A | grep -E '^(o\.txt|\.o\.)')" ] || { echo "FAIL: the refused run left files:"; ls -A; exit 1; }

# Ctrl-C as a terminal sends it: SIGINT to the foreground process group, which setsid makes ours alone.
args=(--content-video clip.mp4 --style-image "$ex/starry_night.jpg" --weights "$fx/vgg_tiny.safetensors"
      --image-size 96 --num-iterations 300 --num-iterations-later 300 --gpu -1 --output-video int.mp4)
setsid "$sv" "${args[@]}" > int.log 2> int.err & pid=$!
for _ in $(seq 1 1200); do [ -f int.mp4.frames/frame_00002.png ] && break; sleep 0.05; done
[ -f int.mp4.frames/frame_00002.png ] || { echo "FAIL: frame 2 never appeared"; cat int.err; exit 1; }
pgid=$(cut -d' ' -f5 "/proc/$pid/stat")
[ "$pgid" = "$pid" ] || { echo "FAIL: setsid did not make the run a group leader ($pgid)"; exit 1; }
kill -INT -- "-$pgid"
rc=0; wait "$pid" || rc=$?
[ $rc -eq 130 ] || { echo "FAIL: Ctrl-C ended the run with $rc, not 130"; cat int.err; exit 1; }
grep -q "run the same command again to continue at frame" int.err || { echo "FAIL: no way to continue said"; cat int.err; exit 1; }
! grep -qi "ffmpeg\|decod" int.err || { echo "FAIL: the decoder was hit or blamed"; cat int.err; exit 1; }
[ ! -e int.mp4 ] || { echo "FAIL: a video was written by the stopped run"; exit 1; }
"$sv" "${args[@]}" > int2.log
grep -q "resuming at frame" int2.log || { echo "FAIL: the same command did not continue"; cat int2.log; exit 1; }
n=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 int.mp4)
[ "$n" = 8 ] || { echo "FAIL: the continued int.mp4 has $n frames, not 8"; exit 1; }
echo "stylize_video_mp4: MP4 in, 8 frames of 96x64 at 10 fps out; o.txt refused before work; Ctrl-C to the" \
  "group: exit 130, continued by the same command to 8 frames"
