#!/usr/bin/env bash
# Training-step benchmark against PyTorch on the same machine, in one run (issue #24): train_style's time
# per step (batch of --batch-size photos at --image-size, the perceptual loss through VGG-19, backward,
# Adam) beside tests/peer/train_step_torch.py, pytorch/examples' recipe on the same weights and photos.
# Prints the machine (CPU model, ISA, cores, load), both results and a markdown row with the ratio
# (below 1: train_style is faster) and peak memory (max RSS from /usr/bin/time -v).
#
#   scripts/bench-train.sh [STYLE [PHOTOS]]   (default: ../shared/images/starry_night.jpg, ../shared/photos/train)
# Environment: NST_BENCH_BATCH (4), NST_BENCH_SIZE (256), NST_BENCH_STEPS (10 timed, after 3 warm-up),
# NST_BENCH_THREADS (2), NST_TORCH_VENV (default ../venvs/torch-pypi beside the repository; made when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
style=${1:-../shared/images/starry_night.jpg}
photos=${2:-../shared/photos/train}
batch=${NST_BENCH_BATCH:-4} size=${NST_BENCH_SIZE:-256} steps=${NST_BENCH_STEPS:-10} threads=${NST_BENCH_THREADS:-2}
venv=${NST_TORCH_VENV:-$(dirname "$repo")/venvs/torch-pypi}
say() { echo "bench-train: $*" >&2; }
scripts/install-deps.sh
command -v /usr/bin/time >/dev/null || { sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo); "${sudo_cmd[@]}" apt-get install -y -qq time >&2; }
cmake -S . -B build -G Ninja >/dev/null || { say "cmake configure failed"; exit 1; }
cmake --build build --target train_style >/dev/null || { say "building train_style failed"; exit 1; }
weights=$(scripts/get-weights.sh | tail -n 1)
if ! "$venv/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  say "making $venv with PyTorch from PyPI"
  { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } && "$venv/bin/python" -m pip install -q torch numpy pillow >&2 ||
    say "could not make the PyTorch venv (offline?): its column stays empty"
fi

flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)
isa=()
for f in avx2 fma avx512f avx512bw avx512vl; do [[ " $flags " == *" $f "* ]] && isa+=("$f"); done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "ISA: ${isa[*]:-(none of avx2 fma avx512f avx512bw avx512vl)}"
echo "cores: $(nproc) logical CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
echo "recipe: batch $batch at $size px, $steps timed steps after 3, $threads threads"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
max_rss_mib() { awk -F: '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
NST_THREADS=$threads /usr/bin/time -v -o "$tmp/time" build/train_style --gpu -1 --weights "$weights" --style-image "$style" \
  --content-dir "$photos" --output-model "$tmp/m.safetensors" --iterations $((steps + 4)) --batch-size "$batch" \
  --image-size "$size" --print-iter 1 --log-json "$tmp/log.json" > "$tmp/ours.out"
tail -n 1 "$tmp/ours.out"
ours=$(python3 - "$tmp/log.json" <<'PY'
import json, statistics, sys
s = [r["seconds"] for r in json.load(open(sys.argv[1]))["steps"]]
d = [b - a for a, b in zip(s[2:], s[3:])]  # intervals after the third step
print(f"{statistics.median(d):.3f}")
PY
)
ours_pk=$(max_rss_mib "$tmp/time")
echo "nst train: $ours s/step (median), peak $ours_pk MiB"
theirs="" theirs_pk=""
if "$venv/bin/python" -c "import torch" 2>/dev/null; then
  OMP_NUM_THREADS=$threads /usr/bin/time -v -o "$tmp/time" "$venv/bin/python" tests/peer/train_step_torch.py --weights "$weights" \
    --style "$style" --content-dir "$photos" --batch-size "$batch" --image-size "$size" --steps "$steps" --threads "$threads" > "$tmp/torch.out"
  tail -n 1 "$tmp/torch.out"
  theirs=$(sed -nE 's/.*: ([0-9.]+) s\/step.*/\1/p' "$tmp/torch.out" | tail -n 1)
  theirs_pk=$(max_rss_mib "$tmp/time")
fi
echo
echo "| batch x size | threads | nst s/step | nst peak MiB | PyTorch s/step | PyTorch peak MiB | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
echo "| $batch x $size | $threads | $ours | $ours_pk | ${theirs:--} | ${theirs_pk:--} | $(awk -v a="$ours" -v b="$theirs" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }') |"
