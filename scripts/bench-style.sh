#!/usr/bin/env bash
# Feed-forward style networks on the CPU against their peers, in one run on one machine (issue #23, item 7):
#   - the 26-style ONNX network (scripts/get-models.sh) in build/bench_style_net and in onnxruntime
#     (CPUExecutionProvider) on the same file;
#   - pytorch/examples' TransformerNet (32, 64, 128; random weights written by the peer) in
#     build/bench_style_net and in PyTorch;
# both sides with the same threads, the same synthetic 4:3 picture, one cold pass then NST_BENCH_REPEAT warm
# ones, sizes ascending; then a markdown table of warm medians and ratios (ours / peer: below 1, we are
# faster) with peak RSS beside each. Prints the CPU model and ISA, the peers' versions and the commit.
#
#   scripts/bench-style.sh
# Environment: NST_BENCH_SIZES (default "512,1024,2048"; TransformerNet stops at 1024 unless
# NST_BENCH_TN_SIZES says otherwise), NST_BENCH_THREADS (2), NST_BENCH_REPEAT (3), NST_TORCH_VENV (a venv
# with torch, onnxruntime and numpy; default ../venvs/torch-pypi, made here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
sizes=${NST_BENCH_SIZES:-512,1024,2048}
tn_sizes=${NST_BENCH_TN_SIZES:-512,1024}
threads=${NST_BENCH_THREADS:-2}
repeat=${NST_BENCH_REPEAT:-3}
venv=${NST_TORCH_VENV:-$(dirname "$repo")/venvs/torch-pypi}
say() { echo "bench-style: $*" >&2; }

scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null || { say "cmake configure failed"; exit 1; }
cmake --build build --target bench_style_net >&2 || { say "build failed"; exit 1; }
models=$(scripts/get-models.sh | tail -n 1)
if [ ! -x "$venv/bin/python" ]; then
  say "making $venv (torch, onnxruntime, numpy from PyPI)"
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import torch, onnxruntime, numpy" 2>/dev/null || "$venv/bin/pip" install -q torch onnxruntime numpy >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# Feed-forward style networks on the CPU, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) hardware threads; flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512f|avx512bw|avx512vl|avx512_bf16|avx2|fma)$' | tr '\n' ' ')"
echo "Threads: $threads on both sides; warm passes: $repeat after one cold pass."
echo
echo '```'
build/bench_style_net --model "$models/multistyle26.onnx" --sizes "$sizes" --repeat "$repeat" --threads "$threads" | tee "$tmp/ours_onnx.txt"
"$venv/bin/python" tests/peer/style_net_peers.py onnx "$models/multistyle26.onnx" --sizes "$sizes" --repeat "$repeat" --threads "$threads" | tee "$tmp/ort.txt"
"$venv/bin/python" tests/peer/style_net_peers.py torch --save "$tmp/tn.safetensors" --sizes "$tn_sizes" --repeat "$repeat" --threads "$threads" | tee "$tmp/torch.txt"
build/bench_style_net --model "$tmp/tn.safetensors" --sizes "$tn_sizes" --repeat "$repeat" --threads "$threads" | tee "$tmp/ours_tn.txt"
echo '```'
echo
# Rows "  WxH first median min tensors rss": join ours and the peer's by size.
table() {  # table TITLE PEER OURS_FILE PEER_FILE
  echo "| $1 | nst median ms | $2 median ms | nst / $2 | nst max RSS MiB | $2 max RSS MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  join <(awk '$1 ~ /^[0-9]+x[0-9]+$/ {print $1, $3, $6}' "$3" | sort) <(awk '$1 ~ /^[0-9]+x[0-9]+$/ {print $1, $3, $6}' "$4" | sort) |
    sort -t x -k1,1n | awk '{printf "| %s | %.1f | %.1f | %.2f | %.0f | %.0f |\n", $1, $2, $4, $2 / $4, $3, $5}'
}
table "multistyle26.onnx" onnxruntime "$tmp/ours_onnx.txt" "$tmp/ort.txt"
echo
table "TransformerNet" PyTorch "$tmp/ours_tn.txt" "$tmp/torch.txt"
