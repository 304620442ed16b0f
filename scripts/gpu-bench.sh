#!/usr/bin/env bash
# The GPU benchmark of issue #6, as one prepared call on the GPU machine (no network, no apt):
#   1. scripts/gpu-check.sh (builds only the GPU targets for the card, runs the CUDA tests, a short
#      stylize run if time allows), within NST_GPU_CHECK_BUDGET seconds (default 300);
#   2. build-gpu/bench_kernels: the conv and Gram ladders against cuDNN/cuBLAS on the VGG-19 shapes;
#   3. one style-transfer function evaluation (forward + backward, VGG-19 through relu5_1) at 512 px,
#      timed over a fixed number of evaluations in nst (own fastest kernels, then the libraries, then
#      own kernels replayed as a CUDA graph) and in PyTorch (tests/peer/gatys_eval_torch.py), TF32 off
#      in both; ms per evaluation, peak GPU memory and the ratios are printed last.
# Before the call, here: scripts/pack-deps.sh (fills .deps/ with headers, weights and two images).
# Device call: command "scripts/gpu-bench.sh", carry [".deps"], timeout_s 580. All logs come back as one
# file, $OUT/gpu-bench-logs.tar.gz (the device call returns at most 8 files).
# Environment: NST_BENCH_EVALS (default 30), NST_GPU_CHECK_BUDGET (default 300). Every step runs under
# `timeout`: 300 (step 1) + 90 (bench_kernels) + 3 x 35 (bench_eval) + 60 (PyTorch) = 555 s at most, so
# the call ends within its 580 s even when something hangs.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d /tmp/nst-gpu-bench.XXXXXX)
evals=${NST_BENCH_EVALS:-30}
b=build-gpu
source scripts/cudnn-env.sh  # bench_kernels and bench_eval load cuDNN too, not only the build
# Packs every log into $OUT and says where they are.
pack_logs() {
  if [ -n "${OUT:-}" ] && tar czf "$OUT/gpu-bench-logs.tar.gz" -C "$logs" .; then
    echo "logs: $OUT/gpu-bench-logs.tar.gz"
  else
    echo "logs: $logs"
  fi
}

NST_GPU_LOGS="$logs" NST_GPU_CHECK_BUDGET=${NST_GPU_CHECK_BUDGET:-300} scripts/gpu-check.sh 2>&1 \
  | tee "$logs/gpu-check.txt" | tail -n 25
[ -x "$b/bench_eval" ] || { echo "gpu-bench: the build failed, nothing to time"; pack_logs; exit 1; }

echo "== kernel ladders (bench_kernels, fp32; *_tf32 rows are TF32)"
timeout -k 5 90 "$b/bench_kernels" --reps 10 >"$logs/kernels.md" 2>&1
echo "bench_kernels exit $?"; cat "$logs/kernels.md"

data=.deps/data
if [ ! -f "$data/vgg19-conv.safetensors" ]; then
  echo "gpu-bench: no $data (run scripts/pack-deps.sh with ../shared present): no end-to-end timing"
  pack_logs
  exit 1
fi
common=(--weights "$data/vgg19-conv.safetensors" --content "$data/chelsea.png" --style "$data/starry_night.jpg"
        --image-size 512 --evals "$evals" --gpu 0)
declare -A line
echo "== one evaluation at 512 px, median of $evals"
line[own]=$(NST_KERNELS=conv2d=igemm,gram=syrk timeout -k 5 35 "$b/bench_eval" "${common[@]}" 2>&1 | tee "$logs/eval_own.txt" | tail -n 1)
line[library]=$(NST_BACKEND=library timeout -k 5 35 "$b/bench_eval" "${common[@]}" 2>&1 | tee "$logs/eval_library.txt" | tail -n 1)
line[graph]=$(NST_KERNELS=conv2d=igemm,gram=syrk timeout -k 5 35 "$b/bench_eval" "${common[@]}" --cuda-graph 2>&1 | tee "$logs/eval_graph.txt" | tail -n 1)
line[torch]=$(timeout -k 5 60 python3 tests/peer/gatys_eval_torch.py --weights "$data/vgg19-conv.safetensors" \
  --content "$data/chelsea.png" --style "$data/starry_night.jpg" --image-size 512 --evals "$evals" --device cuda \
  2>&1 | tee "$logs/eval_torch.txt" | tail -n 1)
cat "$logs"/eval_*.txt
pack_logs

secs() { sed -nE 's/.*: ([0-9.]+) s\/eval.*/\1/p' <<<"$1"; }
peak() { sed -nE 's/.*peak ([0-9]+) MiB.*/\1/p' <<<"$1"; }
t_torch=$(secs "${line[torch]}"); m_torch=$(peak "${line[torch]}")
echo
echo "== summary (512 px, fp32/TF32 off everywhere; ratio = nst / PyTorch)"
printf '| run | ms/eval | peak GPU MiB | time ratio | memory ratio |\n| --- | --- | --- | --- | --- |\n'
for k in own library graph torch; do
  t=$(secs "${line[$k]}"); m=$(peak "${line[$k]}")
  if [ -n "$t" ] && [ -n "$t_torch" ] && [ -n "$m" ] && [ -n "$m_torch" ]; then
    awk -v k="$k" -v t="$t" -v m="$m" -v tt="$t_torch" -v mt="$m_torch" \
      'BEGIN { printf "| %s | %.1f | %s | %.2f | %.2f |\n", k, t * 1000, m, t / tt, m / mt }'
  else
    echo "| $k | failed: ${line[$k]:-no output} | | | |"
  fi
done
