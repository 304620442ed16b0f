#!/usr/bin/env bash
# Crash safety of stylize, with real signals (run by ctest):
#  1. an uninterrupted run;
#  2. the same run killed with SIGKILL once a checkpoint exists, then the same command again (no --resume),
#     which continues from the checkpoint: same image, byte for byte;
#     the output file is never seen half-written (only complete PNGs ever sit under its name); resumed
#     again from another folder with copies of the inputs under other names: the same image, and the
#     checkpoint removed after success;
#  3. the same run stopped with SIGINT: said at once, exit code 130, image and checkpoint saved, resume
#     finishes it;
#  4. two SIGINTs: exit code 130 at once, and the checkpoint on disk still resumes to the same image.
# No fixed delays: each signal waits for the run's first checkpoint to exist (a condition, polled).
# usage: crash_resume.sh STYLIZE FIXTURES_DIR WORK_DIR
set -euo pipefail
stylize=$1 fx=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
args=(--content-image "$fx/vgg_preview.png" --style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors"
      --image-size 48 --num-iterations 3000 --print-iter 0 --save-iter 50 --gpu -1)

"$stylize" "${args[@]}" --output-image full.png > /dev/null

"$stylize" "${args[@]}" --output-image killed.png > /dev/null & pid=$!
wait_for() { for _ in $(seq 1 600); do [ -f "$1" ] && return 0; sleep 0.05; done; echo "FAIL: $1 never appeared"; exit 1; }
wait_for killed.png.ckpt.safetensors
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
[ -f killed.png.ckpt.safetensors ] || { echo "FAIL: no checkpoint before the kill"; exit 1; }
for f in killed*.png; do  # PNG signature first, IEND chunk last: nothing half-written
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$(tail -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ] || { echo "FAIL: $f is not a complete PNG"; exit 1; }
done
# Resumed from another folder, with copies of the inputs under other names: resume goes by content.
mkdir -p moved && cp "$fx/vgg_preview.png" moved/c.png && cp "$fx/tiny_rgb.png" moved/s.png &&
  cp "$fx/vgg_tiny.safetensors" moved/w.safetensors && cp killed.png.ckpt.safetensors moved/k.ckpt.safetensors
(cd moved && "$stylize" --content-image c.png --style-image s.png --weights w.safetensors "${args[@]:6}" \
   --output-image killed.png --resume k.ckpt.safetensors --checkpoint k.ckpt.safetensors > resume.log)
cmp full.png moved/killed.png || { echo "FAIL: the run resumed from another folder differs"; exit 1; }
[ ! -e moved/k.ckpt.safetensors ] || { echo "FAIL: the spent checkpoint was not removed after success"; exit 1; }
# The same command again, without --resume: it continues from its checkpoint and says so.
"$stylize" "${args[@]}" --output-image killed.png > resume.log
grep -q "resuming killed.png.ckpt.safetensors, this run's checkpoint" resume.log ||
  { echo "FAIL: the same command did not continue from its checkpoint"; cat resume.log; exit 1; }
cmp full.png killed.png || { echo "FAIL: the resumed run differs from the uninterrupted one"; exit 1; }
[ ! -e killed.png.ckpt.safetensors ] || { echo "FAIL: the spent checkpoint was not removed after success"; exit 1; }

"$stylize" "${args[@]}" --output-image stopped.png > /dev/null 2> stopped.err & pid=$!
wait_for stopped.png.ckpt.safetensors
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ $rc -eq 130 ] || { echo "FAIL: SIGINT exit code $rc, expected 130"; cat stopped.err; exit 1; }
grep -q "stopping after this iteration" stopped.err || { echo "FAIL: the first Ctrl-C was not acknowledged"; exit 1; }
grep -q -- "--resume stopped.png.ckpt.safetensors" stopped.err || { echo "FAIL: no resume hint"; exit 1; }
"$stylize" "${args[@]}" --output-image stopped.png --resume stopped.png.ckpt.safetensors > /dev/null
cmp full.png stopped.png || { echo "FAIL: resumed after SIGINT differs"; exit 1; }

"$stylize" "${args[@]}" --output-image twice.png > /dev/null 2> twice.err & pid=$!
wait_for twice.png.ckpt.safetensors
kill -INT "$pid"; kill -INT "$pid" 2>/dev/null || true
set +e; wait "$pid"; rc=$?; set -e
[ $rc -eq 130 ] || { echo "FAIL: two SIGINTs: exit code $rc, expected 130"; cat twice.err; exit 1; }
"$stylize" "${args[@]}" --output-image twice.png --resume twice.png.ckpt.safetensors > /dev/null
cmp full.png twice.png || { echo "FAIL: resumed after two SIGINTs differs"; exit 1; }
echo "crash_resume: SIGKILL, SIGINT and double-SIGINT runs resumed to the uninterrupted image"
