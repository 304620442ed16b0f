#!/usr/bin/env python3
"""PyTorch peer of apps/bench_eval: the same function evaluation (VGG-19 forward through relu5_1, content
loss at relu4_2, Gram style losses at relu1_1..relu5_1, backward to the image, frozen weights), timed the
same way (two warm-ups, median of N). Run by scripts/bench-cpu.sh where python3-torch is installed, and
on the GPU by scripts/gpu-bench.sh and scripts/gpu-verify.sh (--device cuda).

    /usr/bin/python3 tests/peer/gatys_eval_torch.py --weights W --content C --style S --image-size 256 \
        --evals 5 --threads 2 [--device cuda] [--tf32 | --torch-defaults] [--json FILE]

TF32, three ways: by default both allow_tf32 flags (cuDNN's and matmul's) are set off, as in bench_eval;
--tf32 sets both on; --torch-defaults touches neither (nor cudnn.benchmark), which is what a user who sets
nothing gets (PyTorch's documented defaults: cuDNN convolutions may use TF32, matmuls may not). The line
before the result line says the settings actually in effect ("settings: ..."); the last line stays the
result line that scripts/bench-cpu.sh and the GPU scripts parse ("torch WxH ...: S s/eval ..., peak M MiB").
--json FILE also writes the figures and the settings.
"""
import argparse
import json
import warnings
import math
import resource
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def load_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": "<f4", "F16": "<f2", "BF16": None}
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a = np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dt[v["dtype"]])
        out[k] = torch.from_numpy(a.astype(np.float32).reshape(v["shape"]).copy())
    return out, h.get("__metadata__", {})


def load_image(path, size):
    img = Image.open(path).convert("RGB")
    s = size / max(img.size)
    w, h = (max(1, int(math.floor(d * s + 0.5))) for d in img.size)
    img = img.resize((w, h), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def features(w, x, layers):
    out, h, i = {}, x, 0
    for block, n in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]:
        for j in range(1, n + 1):
            idx = CONVS[i]
            i += 1
            h = F.relu(F.conv2d(h, w[f"features.{idx}.weight"], w[f"features.{idx}.bias"], padding=1))
            name = f"relu{block}_{j}"
            if name in layers:
                out[name] = h
            if len(out) == len(layers):
                return out
        h = F.max_pool2d(h, 2, 2)
    return out


def gram(f):
    _, c, hh, ww = f.shape
    f = f.reshape(c, hh * ww)
    return f @ f.t() / (c * hh * ww)


def _get(path):
    """The attribute at a dotted path under torch.backends, or None where this PyTorch has none."""
    obj = torch.backends
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch >= 2.9 warns on reading the allow_tf32 flags
            for part in path.split("."):
                obj = getattr(obj, part)
    except (AttributeError, RuntimeError):
        return None
    return obj


def settings_in_effect():
    """What decides fp32 math on the GPU, as this PyTorch reports it (None where an attribute is absent)."""
    s = {
        "cudnn.allow_tf32": _get("cudnn.allow_tf32"),
        "cuda.matmul.allow_tf32": _get("cuda.matmul.allow_tf32"),
        "cudnn.benchmark": _get("cudnn.benchmark"),
        "cudnn.deterministic": _get("cudnn.deterministic"),
    }
    # The fp32_precision attributes of PyTorch >= 2.9 ("ieee", "tf32", "none" = inherit), where they exist.
    for path in ["fp32_precision", "cuda.matmul.fp32_precision", "cudnn.fp32_precision", "cudnn.conv.fp32_precision"]:
        v = _get(path)
        if v is not None:
            s[path] = v
    try:
        s["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    except AttributeError:
        pass
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--evals", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--tf32", action="store_true", help="allow TF32 in cuDNN convs and matmuls (CUDA)")
    mode.add_argument("--torch-defaults", action="store_true",
                      help="leave PyTorch's TF32 and cudnn.benchmark settings as they are (its defaults)")
    ap.add_argument("--json", help="also write the figures and the settings in effect to this JSON file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if not a.torch_defaults:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the allow_tf32 flags still work in PyTorch >= 2.9, with a warning
            torch.backends.cuda.matmul.allow_tf32 = a.tf32
            torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = False
    mode_name = "torch-defaults" if a.torch_defaults else ("tf32" if a.tf32 else "fp32")
    w, meta = load_weights(a.weights)
    w = {k: v.to(dev) for k, v in w.items()}
    for v in w.values():
        v.requires_grad_(False)
    scale = float(meta.get("input_scale", 1))
    mean = torch.tensor([float(v) for v in meta.get("input_mean", "0.485,0.456,0.406").split(",")]).view(1, 3, 1, 1).to(dev)
    std = torch.tensor([float(v) for v in meta.get("input_std", "0.229,0.224,0.225").split(",")]).view(1, 3, 1, 1).to(dev)
    pre = lambda rgb: (rgb * scale - mean) / std
    content, style = load_image(a.content, a.image_size).to(dev), load_image(a.style, a.image_size).to(dev)
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    layers = style_layers + ["relu4_2"]
    with torch.no_grad():
        P = features(w, pre(content), ["relu4_2"])["relu4_2"]
        A = {l: gram(f) for l, f in features(w, pre(style), style_layers).items()}
    x = pre(content).clone().requires_grad_(True)
    times = []
    for i in range(a.evals + 2):
        t = time.perf_counter()
        x.grad = None
        f = features(w, x, layers)
        loss = 5 * ((f["relu4_2"] - P) ** 2).mean()
        for l in style_layers:
            loss = loss + 100 * ((gram(f[l]) - A[l]) ** 2).mean()
        loss.backward()
        float(loss.detach())  # waits for the device, as bench_eval's timing does
        if i >= 2:
            times.append(time.perf_counter() - t)
    settings = settings_in_effect()
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        tf32 = "defaults" if a.torch_defaults else ("on" if a.tf32 else "off")
        where = f"{torch.cuda.get_device_name()} TF32 {tf32}"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        where = f"threads {torch.get_num_threads()}"
    med = statistics.median(times)
    print("settings: mode " + mode_name + ", " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"torch {content.shape[3]}x{content.shape[2]} {where}: "
          f"{med:.4f} s/eval (min {min(times):.4f}), peak {peak:.0f} MiB, torch {torch.__version__}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"mode": mode_name, "device": str(dev),
                       "card": torch.cuda.get_device_name() if dev.type == "cuda" else None,
                       "torch": torch.__version__, "width": int(content.shape[3]), "height": int(content.shape[2]),
                       "evals": a.evals, "ms_per_eval": med * 1e3, "min_ms": min(times) * 1e3, "peak_mib": peak,
                       "settings": settings}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
