#!/usr/bin/env bash
# A full disk never loses a run's work (issue #22, item 3), on a real full file system: a small tmpfs,
# mounted in a private mount namespace (so nothing outside this test sees it), filled to the last byte.
#  1. the output on the full disk with --save-iter 0 (the issue's repro): every iteration runs, the image
#     cannot be written, the finished result is kept as a checkpoint in $TMPDIR (the checkpoint's own path
#     is on the same full disk), the error names the file and --output-image and prints the command that
#     writes the image; once there is room that command writes it without iterating, and it is the
#     uninterrupted run's image byte for byte;
#  2. intermediate images and checkpoints that cannot be written are warnings and the run goes on; space
#     freed during the run (after the first warning), it ends with the uninterrupted image.
# Skipped (NST_SKIPPED) where no tmpfs can be mounted (not root and no user namespaces).
# usage: full_disk.sh STYLIZE FIXTURES_DIR WORK_DIR
set -euo pipefail
stylize=$1 fx=$2 work=$3
if [ -z "${NST_FULL_DISK_NS:-}" ]; then
  ns=(unshare --mount --propagation private)
  [ "$(id -u)" -eq 0 ] || ns=(unshare --mount --map-root-user --propagation private)
  if ! "${ns[@]}" true 2>/dev/null; then echo "NST_SKIPPED: cannot make a mount namespace for a small tmpfs here"; exit 0; fi
  NST_FULL_DISK_NS=1 exec "${ns[@]}" bash "$0" "$@"
fi
rm -rf "$work" && mkdir -p "$work/disk" "$work/tmp" && cd "$work"
mount -t tmpfs -o size=1m tmpfs disk || { echo "NST_SKIPPED: cannot mount a tmpfs here"; exit 0; }
export TMPDIR=$work/tmp
fill() { dd if=/dev/zero of=disk/filler bs=4k status=none 2>/dev/null || true; }
args=(--content-image "$fx/vgg_preview.png" --style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors"
      --image-size 48 --print-iter 0 --gpu -1)

# 1. --save-iter 0, the output on a full disk.
"$stylize" "${args[@]}" --num-iterations 40 --save-iter 0 --output-image ref40.png > /dev/null
fill
set +e; "$stylize" "${args[@]}" --num-iterations 40 --save-iter 0 --output-image disk/out.png > one.log 2> one.err; rc=$?; set -e
[ $rc -eq 1 ] || { echo "FAIL: a result that cannot be written exits with $rc, expected 1"; cat one.err; exit 1; }
grep -q -- "--output-image: disk/out.png: write failed" one.err || { echo "FAIL: the error does not name the file and the flag"; cat one.err; exit 1; }
kept=$(ls "$TMPDIR"/*.ckpt.safetensors 2>/dev/null | head -1)
[ -n "$kept" ] || { echo "FAIL: the finished result was not kept in \$TMPDIR"; cat one.err; exit 1; }
grep -q "kept in $kept" one.err || { echo "FAIL: the error does not say where the result is kept"; cat one.err; exit 1; }
cmd=$(sed -n 's/^stylize: to write the image: //p' one.err)
[ -n "$cmd" ] || { echo "FAIL: no command to write the image"; cat one.err; exit 1; }
[ ! -e disk/out.png ] || { echo "FAIL: a partial output exists"; exit 1; }
rm disk/filler
set +e; "$stylize" "${args[@]}" --num-iterations 41 --save-iter 0 --output-image disk/out.png --resume "$kept" 2> more.err; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "holds the finished image of --num-iterations 40.*pass --num-iterations 40" more.err ||
  { echo "FAIL: a finished result resumed with another --num-iterations was not refused ($rc)"; cat more.err; exit 1; }
eval "$cmd" > write.log || { echo "FAIL: the printed command failed: $cmd"; cat write.log; exit 1; }
grep -q "writing its image without iterating" write.log || { echo "FAIL: the printed command iterated again"; cat write.log; exit 1; }
cmp ref40.png disk/out.png || { echo "FAIL: the image written from the kept result differs from the uninterrupted run's"; exit 1; }
echo "full_disk: the finished result survived a full disk and was written by the printed command"

# 2. Intermediates and checkpoints on a full disk: warnings; room made after the first one.
rm -f disk/out.png && fill
"$stylize" "${args[@]}" --num-iterations 1000 --save-iter 20 --output-image ref1000.png > /dev/null
"$stylize" "${args[@]}" --num-iterations 1000 --save-iter 20 --output-image disk/two.png > two.log 2> two.err & pid=$!
for _ in $(seq 1 600); do grep -q "warning: the checkpoint" two.log && break; sleep 0.05; done
rm disk/filler
set +e; wait "$pid"; rc=$?; set -e
[ $rc -eq 0 ] || { echo "FAIL: a run whose intermediates could not be written ended with $rc"; cat two.log two.err; exit 1; }
grep -q "warning: the intermediate image disk/two_48_20.png (--save-iter) was not written; the run goes on (.*); further failures of --save-iter are not reported" two.log ||
  { echo "FAIL: no warning for the intermediate image"; cat two.log; exit 1; }
grep -q "warning: the checkpoint disk/two.png.ckpt.safetensors (--checkpoint) was not written; the run goes on" two.log ||
  { echo "FAIL: no warning for the checkpoint"; cat two.log; exit 1; }
cmp ref1000.png disk/two.png || { echo "FAIL: the run with failed intermediate writes differs from the uninterrupted one"; exit 1; }
echo "full_disk: intermediate images and checkpoints that could not be written were warnings; the run finished"
[ "$(grep -c "warning: the checkpoint" two.log)" -eq 1 ] || { echo "FAIL: a repeated write failure was reported more than once"; cat two.log; exit 1; }

# 3. The same under mpirun (issue #25): a checkpoint is written by every rank together (each vector's
#    shares gathered, rank 0 writing); rank 0's failure on the full disk is one warning, every rank goes on,
#    and the job ends as the run with room does. Skipped without mpirun.
command -v mpirun > /dev/null || { echo "full_disk: no mpirun, the ranked part skipped"; exit 0; }
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo \
  OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI keeps its memory until exit, by design: under ASan the ranks do not count it as leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
ranked=(mpirun -np 2 "$stylize" --content-image "$fx/vgg_preview.png" --style-image "$fx/tiny_rgb.png"
        --weights "$fx/vgg_tiny.safetensors" --image-size 128 --tile-size 64 --print-iter 0 --gpu -1
        --num-iterations 60 --save-iter 10)
rm -f disk/two.png && fill
"${ranked[@]}" --output-image ref_np2.png > /dev/null
"${ranked[@]}" --output-image disk/three.png > three.log 2> three.err & pid=$!
for _ in $(seq 1 600); do grep -q "warning: the checkpoint" three.log && break; sleep 0.05; done
rm disk/filler
set +e; wait "$pid"; rc=$?; set -e
[ $rc -eq 0 ] || { echo "FAIL: ranks whose checkpoint could not be written ended with $rc"; cat three.log three.err; exit 1; }
[ "$(grep -c "warning: the checkpoint disk/three.png.ckpt.safetensors (--checkpoint) was not written" three.log)" -eq 1 ] ||
  { echo "FAIL: rank 0's failed checkpoint was not one warning"; cat three.log; exit 1; }
cmp ref_np2.png disk/three.png || { echo "FAIL: the ranks' run with a failed checkpoint differs from the one with room"; exit 1; }
echo "full_disk: under 2 ranks a checkpoint that could not be written was one warning; the job finished"
