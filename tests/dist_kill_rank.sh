#!/usr/bin/env bash
# A rank that dies ends the whole MPI job (issue #25 item 5, faults), run by ctest with the real binary:
#  1. mpirun -np 3 train_style trains with a checkpoint every few steps; once the checkpoint exists, one
#     rank that is not rank 0 is killed with SIGKILL (no chance to say anything, as a crashed node);
#  2. mpirun must end within 30 s with a non-zero status, its output naming the dead rank and the signal,
#     and no rank of the job left running (a hang here fails the test; it never waits for ctest's TIMEOUT);
#  3. the checkpoint left behind (written atomically by rank 0) resumes on another number of ranks
#     (mpirun -np 2) to the end: exit 0, the model written, the log saying it resumed after the
#     checkpoint's step.
# Skips (exit 77) without mpirun or with a build that has no MPI. No fixed delays: each step polls for
# a condition with a deadline. The same tiny sizes and fixtures as train_style_cli.sh.
# usage: dist_kill_rank.sh TRAIN_STYLE FIXTURES_DIR EXAMPLES_DIR WORK_DIR
set -euo pipefail
train=$1 fx=$2 ex=$3 work=$4
command -v mpirun > /dev/null || { echo "NST_SKIPPED: no mpirun on PATH"; exit 77; }
# Every byte on the loopback; root in containers; more ranks than the machine's cores (as test_dist.cpp).
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo \
  OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  ASAN_OPTIONS=detect_leaks=0  # Open MPI keeps its memory until exit, by design

rm -rf "$work" && mkdir -p "$work/photos" && cd "$work"
cp "$ex/chelsea.jpg" photos/a.jpg && cp "$ex/starry_night.jpg" photos/b.jpg && cp "$fx/kind_rgb.jpg" photos/c.jpg &&
  cp "$fx/vgg_preview.png" photos/d.png
args=(--style-image "$fx/kind_rgb.jpg" --weights "$fx/vgg_tiny.safetensors" --gpu -1 --content-dir photos
      --batch-size 4 --image-size 16 --style-size 32 --widths 4,4,8 --output-model m.safetensors)

descendants() {  # descendants PID: every process under PID, children first
  local c
  for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done
}
rank_of() {  # rank_of PID: the MPI rank mpirun gave that process, or nothing
  tr '\0' '\n' < "/proc/$1/environ" 2> /dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p' || true
}
alive() {  # alive PID: running (a zombie, dead but not yet reaped, counts as ended)
  [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)" != Z ]
}
mp="" ranks=()
cleanup() {  # on any exit: nothing of ours left running (by pid, the ranks before their mpirun)
  local p
  for p in "${ranks[@]}" $([ -z "$mp" ] || descendants "$mp") $mp; do kill -9 "$p" 2> /dev/null || true; done
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_start=$(now)

# 1. Three ranks, a checkpoint every 5 steps, far more steps than the test lets it run.
mpirun -np 3 "$train" "${args[@]}" --iterations 1000000 --print-iter 5 --checkpoint run.ckpt --save-iter 5 \
  > killed.log 2>&1 &
mp=$!
for _ in $(seq 600); do [ -f run.ckpt ] && break; alive "$mp" || break; sleep 0.05; done
if [ ! -f run.ckpt ]; then
  grep -q "this build has no MPI" killed.log && { echo "NST_SKIPPED: this build has no MPI"; exit 77; }
  echo "FAIL: no checkpoint within 30 s of the start"; cat killed.log; exit 1
fi
victim="" victim_rank=""
for p in $(descendants "$mp"); do
  [ "$(cat "/proc/$p/comm" 2> /dev/null)" = train_style ] || continue
  r=$(rank_of "$p")
  [ -n "$r" ] || continue
  ranks+=("$p")
  [ "$r" != 0 ] && [ -z "$victim" ] && victim=$p victim_rank=$r
done
[ ${#ranks[@]} -eq 3 ] && [ -n "$victim" ] ||
  { echo "FAIL: expected 3 train_style ranks under mpirun, found ${#ranks[@]}: ${ranks[*]}"; cat killed.log; exit 1; }

# 2. Kill one non-root rank; the job must end, non-zero, within the deadline, saying which rank died.
t_kill=$(now)
kill -9 "$victim"
for _ in $(seq 600); do alive "$mp" || break; sleep 0.05; done
if alive "$mp"; then
  echo "FAIL: mpirun still running 30 s after rank $victim_rank was killed (a hang)"; cat killed.log; exit 1
fi
set +e; wait "$mp"; kill_rc=$?; set -e
ended=$(since "$t_kill")
mp=""
[ $kill_rc -ne 0 ] || { echo "FAIL: mpirun exited 0 after rank $victim_rank was killed"; cat killed.log; exit 1; }
grep -Eq "rank $victim_rank .*exited on signal 9" killed.log ||
  { echo "FAIL: mpirun's output does not name rank $victim_rank and signal 9"; cat killed.log; exit 1; }
for p in "${ranks[@]}"; do
  if alive "$p"; then echo "FAIL: rank process $p still running after mpirun ended"; cat killed.log; exit 1; fi
done
ranks=()
[ ! -e m.safetensors ] || { echo "FAIL: a killed job wrote its model"; exit 1; }

# 3. The checkpoint resumes on 2 ranks (the fingerprint knows nothing of ranks) for 3 more steps.
step=$(grep -ao '"nst.train.steps":"[0-9]*"' run.ckpt | grep -o '[0-9][0-9]*' || true)
[ -n "$step" ] || { echo "FAIL: run.ckpt holds no step count"; exit 1; }
end=$((step + 3))
set +e
timeout 60 mpirun -np 2 "$train" "${args[@]}" --iterations $end --print-iter 1 --resume run.ckpt > resumed.log 2>&1
rc=$?
set -e
[ $rc -eq 0 ] || { echo "FAIL: resuming on 2 ranks gave exit $rc"; cat resumed.log; exit 1; }
grep -q "MPI, 2 ranks" resumed.log && grep -q "^resuming run.ckpt after step $step$" resumed.log &&
  grep -q "^trained $end steps" resumed.log && [ -s m.safetensors ] ||
  { echo "FAIL: did not resume after step $step on 2 ranks to a model of $end steps"; cat resumed.log; exit 1; }

echo "dist_kill_rank: rank $victim_rank of 3 killed, the job ended with exit $kill_rc in ${ended} s; resumed after step $step on 2 ranks; $(since "$t_start") s in all"
