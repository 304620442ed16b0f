#!/usr/bin/env bash
# CPU benchmark against current PyTorch on the same machine, in one run:
#   - the machine: CPU model, the ISA flags that matter, cores, date, commit;
#   - build/bench_gemm (our GEMM against OpenBLAS at its right core, and the micro-kernel in use);
#   - per size and thread count: the function evaluation (build/bench_eval: median of several evaluations,
#     GFLOP/s, % of a measured sgemm ceiling, peak resident memory) beside tests/peer/gatys_eval_torch.py,
#     and the whole stylize run (build/stylize with its defaults, steady-state seconds per evaluation from
#     its --log-json, peak RSS from /usr/bin/time -v) beside tests/peer/gatys_stylize_torch.py;
#   - markdown tables with the ratios nst / PyTorch (below 1: we are faster).
# PyTorch peers: current PyTorch from PyPI in a venv outside the repository (made here when missing:
# $NST_TORCH_VENV, default ../venvs/torch-pypi beside the repository), and Debian's python3-torch
# (/usr/bin/python3) where installed. Our runs get no OPENBLAS_* variable; threads are set by bench_eval's
# --threads and stylize's NST_THREADS, PyTorch's by torch.set_num_threads (and OMP_NUM_THREADS).
#
#   scripts/bench-cpu.sh [CONTENT STYLE]    (default: ../shared/images/chelsea.png and starry_night.jpg)
# Environment: NST_BENCH_SIZES (default "256 512"), NST_BENCH_THREADS ("2"), NST_BENCH_EVALS (bench_eval
# evaluations, 5), NST_BENCH_ITERS (stylize iterations, 20), NST_TORCH_VENV (see above),
# NST_BENCH_GEMM_ARGS (arguments for bench_gemm, default none).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
content=${1:-../shared/images/chelsea.png}
style=${2:-../shared/images/starry_night.jpg}
sizes=${NST_BENCH_SIZES:-256 512}
threads_list=${NST_BENCH_THREADS:-2}
evals=${NST_BENCH_EVALS:-5}
iters=${NST_BENCH_ITERS:-20}
venv=${NST_TORCH_VENV:-$(dirname "$repo")/venvs/torch-pypi}
say() { echo "bench-cpu: $*" >&2; }
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
apt_install() {  # packages, when missing
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
(( iters > 3 )) || { say "NST_BENCH_ITERS must be at least 4 (steady state excludes the first 3)"; exit 1; }

# Our runs get no OPENBLAS_* variable (bench_gemm may set its own for its yardstick).
for v in $(compgen -e | grep '^OPENBLAS_' || true); do say "unsetting $v for this run"; unset "$v"; done

scripts/install-deps.sh
apt_install time python3-venv
# A benchmark measures the tree as it is: a build that fails stops here rather than timing old binaries.
cmake -S . -B build -G Ninja >/dev/null || { say "cmake configure failed"; exit 1; }
cmake --build build --target bench_eval stylize bench_gemm >/dev/null || { say "building the benchmarks failed"; exit 1; }
weights=$(scripts/get-weights.sh | tail -n 1)

# ---- PyTorch peers ----
if ! "$venv/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  say "making $venv with PyTorch from PyPI (pip install torch numpy pillow)"
  if { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } &&
     "$venv/bin/python" -m pip install -q --upgrade pip >&2 &&
     "$venv/bin/python" -m pip install -q torch numpy pillow >&2; then
    :
  else
    say "could not make the PyPI PyTorch venv (offline?): that column stays empty"
  fi
fi
pys=() names=() versions=()
if "$venv/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  pys+=("$venv/bin/python"); names+=(PyPI); versions+=("$("$venv/bin/python" -c 'import torch; print(torch.__version__)')")
else
  pys+=(""); names+=(PyPI); versions+=("not available")
fi
if /usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null; then
  pys+=(/usr/bin/python3); names+=(Debian); versions+=("$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')")
else
  pys+=(""); names+=(Debian); versions+=("not installed (apt-get install python3-torch)")
fi

# ---- the machine ----
flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2)
isa=()
for f in avx2 fma avx512f avx512bw avx512vl; do [[ " $flags " == *" $f "* ]] && isa+=("$f"); done
for f in $flags; do [[ $f == amx* ]] && isa+=("$f"); done
physical=$(awk -F: '/^physical id/ { p = $2 } /^core id/ { print p "/" $2 }' /proc/cpuinfo | sort -u | wc -l)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "ISA: ${isa[*]:-(none of avx2 fma avx512f avx512bw avx512vl amx)}"
echo "cores: $(nproc) logical CPUs available, $physical physical cores; load average $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the figures)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
echo "PyTorch: PyPI ${versions[0]} ($venv), Debian ${versions[1]}"

# ---- bench_gemm: our GEMM against OpenBLAS at its right core ----
echo
echo "== build/bench_gemm ${NST_BENCH_GEMM_ARGS:-}"
# shellcheck disable=SC2086
build/bench_gemm ${NST_BENCH_GEMM_ARGS:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
max_rss_mib() { awk -F: '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
num() { sed -nE "$1" <<<"$2" | head -n 1; }  # a field of a line, or nothing

eval_rows=() sty_rows=()
for size in $sizes; do
  for t in $threads_list; do
    echo
    echo "== $size px, $t threads"
    ours=$(build/bench_eval --weights "$weights" --content "$content" --style "$style" \
           --image-size "$size" --threads "$t" --evals "$evals")
    echo "$ours"
    ours=$(tail -n 1 <<<"$ours")  # the figures; the line before names the CPU, ISA and micro-kernel

    # stylize itself, with its defaults, on the CPU; every iteration logged with its time stamp.
    log=$tmp/stylize-$size-$t.json
    NST_THREADS=$t /usr/bin/time -v -o "$tmp/time" build/stylize --gpu -1 --weights "$weights" \
      --content-image "$content" --style-image "$style" --output-image "$tmp/out-$size-$t.png" \
      --image-size "$size" --num-iterations "$iters" --print-iter 1 --save-iter 0 --log-json "$log" >"$tmp/stylize.out"
    tail -n 1 "$tmp/stylize.out"
    read -r st_s st_n < <(python3 - "$log" <<'EOF'
import json, sys
it = {e["iteration"]: e["seconds"] for e in json.load(open(sys.argv[1]))["iterations"]}
k = max(it)
print(f"{(it[k] - it[3]) / (k - 3):.3f} {json.load(open(sys.argv[1]))['summary']['evaluations']}")
EOF
)
    st_pk=$(max_rss_mib "$tmp/time")
    echo "nst stylize threads $t: $st_s s/eval steady ($st_n evals), peak $st_pk MiB (max RSS)"

    sty_cols=() eval_cols=()
    for i in 0 1; do
      py=${pys[$i]}
      if [ -z "$py" ]; then sty_cols+=("-|-|-"); continue; fi
      theirs=$(OMP_NUM_THREADS=$t /usr/bin/time -v -o "$tmp/time" "$py" tests/peer/gatys_stylize_torch.py \
               --weights "$weights" --content "$content" --style "$style" --image-size "$size" \
               --num-iterations "$iters" --threads "$t" | tail -n 1)
      echo "$theirs (${names[$i]})"
      ts=$(num 's/.*: ([0-9.]+) s\/eval steady.*/\1/p' "$theirs")
      tn=$(num 's/.*steady \(([0-9]+) evals\).*/\1/p' "$theirs")
      [ "$tn" = "$st_n" ] || say "note: stylize made $st_n evaluations, the ${names[$i]} peer $tn"
      tp=$(max_rss_mib "$tmp/time")
      sty_cols+=("${ts:--}|${tp:--}|$(awk -v a="$st_s" -v b="$ts" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')")
    done
    for i in 0 1; do
      py=${pys[$i]}
      if [ -z "$py" ]; then eval_cols+=("-|-|-"); continue; fi
      theirs=$(OMP_NUM_THREADS=$t "$py" tests/peer/gatys_eval_torch.py --weights "$weights" --content "$content" \
               --style "$style" --image-size "$size" --threads "$t" --evals "$evals" | tail -n 1)
      echo "$theirs (${names[$i]})"
      eval_cols+=("$theirs")
    done

    s=$(num 's/.*: ([0-9.]+) s\/eval.*/\1/p' "$ours")
    gf=$(num 's/.*, ([0-9.]+) GFLOP\/s.*/\1/p' "$ours")
    pc=$(num 's/.*\(([0-9]+)%\).*/\1%/p' "$ours")
    pk=$(num 's/.*peak ([0-9]+) MiB.*/\1/p' "$ours")
    dims=$(num 's/^nst ([0-9]+x[0-9]+) .*/\1/p' "$ours")
    row="| ${dims:-$size} | $t | ${s:--} | ${gf:--} | ${pc:--} | ${pk:--}"
    for c in "${eval_cols[@]}"; do
      if [[ $c == torch* ]]; then
        ts=$(num 's/.*: ([0-9.]+) s\/eval.*/\1/p' "$c")
        tp=$(num 's/.*peak ([0-9]+) MiB.*/\1/p' "$c")
        row+=" | ${ts:--} | ${tp:--} | $(awk -v a="$s" -v b="$ts" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')"
      else
        row+=" | - | - | -"
      fi
    done
    eval_rows+=("$row |")
    row="| ${dims:-$size} | $t | $st_s | $st_pk"
    for c in "${sty_cols[@]}"; do IFS='|' read -r a b r <<<"$c"; row+=" | $a | $b | $r"; done
    sty_rows+=("$row |")
  done
done

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PyTorch: PyPI ${versions[0]}, Debian ${versions[1]}. Ratio = nst / PyTorch time (below 1: nst is faster)."
echo
echo "(a) function evaluation: bench_eval vs gatys_eval_torch.py (median of $evals after 2 warm-ups; peak = ru_maxrss)"
echo
echo "| size | threads | nst s/eval | GFLOP/s | % of sgemm | nst peak MiB | torch-PyPI s/eval | peak MiB | ratio | torch-Debian s/eval | peak MiB | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${eval_rows[@]}"
echo
echo "(b) stylize steady state: build/stylize vs gatys_stylize_torch.py ($iters iterations, L-BFGS without line search;"
echo "    s/eval = (t_last - t_3) / (evals - 3); peak = max RSS from /usr/bin/time -v)"
echo
echo "| size | threads | nst s/eval | nst peak MiB | torch-PyPI s/eval | peak MiB | ratio | torch-Debian s/eval | peak MiB | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${sty_rows[@]}"
