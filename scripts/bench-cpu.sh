#!/usr/bin/env bash
# CPU benchmark of the style-transfer function evaluation against PyTorch on the same machine, in one run:
# 256 and 512 px, 1 and 2 threads, median of several evaluations, GFLOP/s and % of a measured sgemm
# ceiling, peak resident memory, and the ratio project / PyTorch. PyTorch's side runs only where
# python3-torch is installed (Debian: apt-get install python3-torch).
#
#   scripts/bench-cpu.sh [CONTENT STYLE]    (default: ../shared/images/chelsea.png and starry_night.jpg)
# Environment: NST_BENCH_SIZES (default "256 512"), NST_BENCH_THREADS ("1 2"), NST_BENCH_EVALS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
content=${1:-../shared/images/chelsea.png}
style=${2:-../shared/images/starry_night.jpg}
scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target bench_eval >/dev/null
weights=$(scripts/get-weights.sh | tail -n 1)
py=/usr/bin/python3
have_torch=0
$py -c "import torch, PIL, numpy" 2>/dev/null && have_torch=1
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
rows=()
for size in ${NST_BENCH_SIZES:-256 512}; do
  for t in ${NST_BENCH_THREADS:-1 2}; do
    ours=$(OPENBLAS_NUM_THREADS=$t build/bench_eval --weights "$weights" --content "$content" --style "$style" \
           --image-size "$size" --threads "$t" --evals "${NST_BENCH_EVALS:-5}")
    echo "$ours"
    theirs="(python3-torch not installed)"
    if [ $have_torch -eq 1 ]; then
      theirs=$(OMP_NUM_THREADS=$t $py tests/peer/gatys_eval_torch.py --weights "$weights" --content "$content" \
               --style "$style" --image-size "$size" --threads "$t" --evals "${NST_BENCH_EVALS:-5}")
      echo "$theirs"
    fi
    rows+=("$size|$t|$ours|$theirs")
  done
done
echo
echo "| size | threads | nst s/eval | GFLOP/s | % of sgemm | nst peak MiB | PyTorch s/eval | PyTorch peak MiB | nst / PyTorch |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for r in "${rows[@]}"; do
  IFS='|' read -r size t ours theirs <<<"$r"
  s=$(sed -E 's/.*: ([0-9.]+) s\/eval.*/\1/' <<<"$ours")
  gf=$(sed -E 's/.*, ([0-9.]+) GFLOP\/s, sgemm.*/\1/' <<<"$ours")
  pc=$(sed -E 's/.*\(([0-9]+)%\).*/\1/' <<<"$ours")
  pk=$(sed -E 's/.*peak ([0-9]+) MiB.*/\1/' <<<"$ours")
  dims=$(sed -E 's/^nst ([0-9x]+) .*/\1/' <<<"$ours")
  if [[ $theirs == torch* ]]; then
    ts=$(sed -E 's/.*: ([0-9.]+) s\/eval.*/\1/' <<<"$theirs")
    tp=$(sed -E 's/.*peak ([0-9]+) MiB.*/\1/' <<<"$theirs")
    ratio=$(awk -v a="$s" -v b="$ts" 'BEGIN { printf "%.2f", a / b }')
  else
    ts="-"; tp="-"; ratio="-"
  fi
  echo "| $dims | $t | $s | $gf | $pc% | $pk | $ts | $tp | $ratio |"
done
