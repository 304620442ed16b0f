#!/usr/bin/env bash
# The GPU benchmark of issue #6, as one prepared call on the GPU machine (no network, no apt):
#   1. scripts/gpu-check.sh (build for the card, every test incl. CUDA, a short stylize run);
#   2. build-gpu/bench_kernels: the conv and Gram ladders against cuDNN/cuBLAS on the VGG-19 shapes;
#   3. one style-transfer function evaluation (forward + backward, VGG-19 through relu5_1) at 512 px,
#      timed over a fixed number of evaluations in nst (own fastest kernels, then the libraries, then
#      own kernels replayed as a CUDA graph) and in PyTorch (tests/peer/gatys_eval_torch.py), TF32 off
#      in both; ms per evaluation, peak GPU memory and the ratios are printed last.
# Before the call, here: scripts/pack-deps.sh (fills .deps/ with headers, weights and two images).
# Device call: command "scripts/gpu-bench.sh", carry [".deps"], timeout_s 580. Full logs go to $OUT.
# Environment: NST_BENCH_EVALS (default 10), NST_GPU_CHECK_BUDGET (default 220 s for step 1). The time
# caps of the steps add up to 550 s, so the call ends within its 580 s even when something hangs.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/nst-gpu-bench}
mkdir -p "$out"
evals=${NST_BENCH_EVALS:-10}
b=build-gpu

NST_GPU_CHECK_BUDGET=${NST_GPU_CHECK_BUDGET:-220} scripts/gpu-check.sh 2>&1 | tee "$out/gpu-check.txt" | tail -n 25
[ -x "$b/bench_eval" ] || { echo "gpu-bench: the build failed, nothing to time"; exit 1; }

echo "== kernel ladders (bench_kernels, fp32; *_tf32 rows are TF32)"
timeout 120 "$b/bench_kernels" --reps 10 >"$out/kernels.md" 2>&1
echo "bench_kernels exit $?"; cat "$out/kernels.md"

data=.deps/data
if [ ! -f "$data/vgg19-conv.safetensors" ]; then
  echo "gpu-bench: no $data (run scripts/pack-deps.sh with ../shared present): no end-to-end timing"
  exit 1
fi
common=(--weights "$data/vgg19-conv.safetensors" --content "$data/chelsea.png" --style "$data/starry_night.jpg"
        --image-size 512 --evals "$evals" --gpu 0)
declare -A line
echo "== one evaluation at 512 px, median of $evals"
line[own]=$(NST_KERNELS=conv2d=igemm,gram=syrk timeout 45 "$b/bench_eval" "${common[@]}" 2>&1 | tee "$out/eval_own.txt" | tail -n 1)
line[library]=$(NST_BACKEND=library timeout 45 "$b/bench_eval" "${common[@]}" 2>&1 | tee "$out/eval_library.txt" | tail -n 1)
line[graph]=$(NST_KERNELS=conv2d=igemm,gram=syrk timeout 45 "$b/bench_eval" "${common[@]}" --cuda-graph 2>&1 | tee "$out/eval_graph.txt" | tail -n 1)
line[torch]=$(timeout 75 python3 tests/peer/gatys_eval_torch.py --weights "$data/vgg19-conv.safetensors" \
  --content "$data/chelsea.png" --style "$data/starry_night.jpg" --image-size 512 --evals "$evals" --device cuda \
  2>&1 | tee "$out/eval_torch.txt" | tail -n 1)
cat "$out"/eval_*.txt

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
