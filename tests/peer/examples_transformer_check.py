#!/usr/bin/env python3
"""A model file written by build/train_style loads UNCHANGED into pytorch/examples' own TransformerNet
(their fast_neural_style/neural_style/transformer_net.py, imported from a checkout given by --examples,
never a copy) and gives the same picture as build/stylize --model. Steps: (1) train a few steps with
build/train_style on the CPU (or take --model FILE); (2) read the safetensors file (the `safetensors`
package if installed, else a small numpy reader) and load_state_dict(strict=True) into their
TransformerNet, reporting missing/unexpected keys; (3) stylize one photo of ../shared/photos/val, resized
to --side px (both sides multiples of 4, so that neither side pads) and written as PNG first so that both
get the same pixels: their recipe (RGB 0..255 in, float32 on the CPU, output clamped to 0..255) and
build/stylize --model --gpu -1 on that PNG; (4) compare in 0..255 units. Our picture is an 8-bit PNG, so
it is off their unrounded float picture by the rounding (<= 0.5 level) plus float summation-order noise:
PASS when the max abs difference is <= --max-diff (default 1.0 level) and the mean <= 0.5 level; exit 1
otherwise. Not run by CI.

    git clone https://github.com/pytorch/examples /tmp/examples    # or any copy holding the file
    ../venvs/torch-pypi/bin/python tests/peer/examples_transformer_check.py --examples /tmp/examples
    ../venvs/torch-pypi/bin/python tests/peer/examples_transformer_check.py --examples /tmp/examples --model m.safetensors
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared")

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """(tensors as numpy arrays, the __metadata__ dict): 8-byte little-endian header length, JSON, raw data."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, t in header.items():
        if t["dtype"] == "BF16":
            a, b = t["data_offsets"]
            u = np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16
            out[name] = u.view(np.float32).reshape(t["shape"])
            continue
        if t["dtype"] not in DTYPES:
            sys.exit(f"{path}: tensor {name} has dtype {t['dtype']}, which this reader does not know")
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.dtype(DTYPES[t["dtype"]]).newbyteorder("<")).reshape(t["shape"]).copy()
    return out, meta


def load_model_file(path):
    try:
        from safetensors.numpy import load_file
        from safetensors import safe_open
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
        return load_file(path), meta, "safetensors package"
    except ImportError:
        tensors, meta = read_safetensors(path)
        return tensors, meta, "numpy reader"


def import_their_transformer_net(examples):
    d = os.path.join(os.path.abspath(examples), "fast_neural_style", "neural_style")
    f = os.path.join(d, "transformer_net.py")
    if not os.path.isfile(f):
        sys.exit(f"--examples {examples}: no {f}.\nGet pytorch/examples' code first, e.g.\n"
                 f"    git clone https://github.com/pytorch/examples /tmp/examples\n"
                 f"and pass --examples /tmp/examples (a checkout or an extracted copy holding "
                 f"fast_neural_style/neural_style/transformer_net.py).")
    sys.path.insert(0, d)
    import transformer_net
    return transformer_net, f


def run(cmd, what):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"{what} failed (exit {p.returncode}):\n{p.stdout}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", required=True, help="a checkout (or extracted copy) of github.com/pytorch/examples")
    ap.add_argument("--model", help="a train_style model file to check (default: train one for --iterations steps)")
    ap.add_argument("--iterations", type=int, default=40, help="train_style steps (40: about 15 s on 2 cores, enough for a picture "
                    "that spans most of 0..255 rather than a nearly black one)")
    ap.add_argument("--photo", help="the photo to stylize (default: the first of ../shared/photos/val)")
    ap.add_argument("--side", type=int, default=128, help="longest side of the photo fed to both (rounded to a multiple of 4)")
    ap.add_argument("--max-diff", type=float, default=1.0, help="PASS threshold on the max abs difference, 0..255 units")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    a = ap.parse_args()

    tn, tn_file = import_their_transformer_net(a.examples)
    import torch
    torch.set_num_threads(1)
    print(f"their TransformerNet: {tn_file} (torch {torch.__version__})")

    tmp = tempfile.mkdtemp(prefix="examples_tn_check_")
    model = a.model
    if not model:  # (1)
        model = os.path.join(tmp, "m.safetensors")
        run([os.path.join(a.build, "train_style"), "--iterations", str(a.iterations), "--batch-size", "1", "--image-size", "64",
             "--gpu", "-1", "--weights", os.path.join(SHARED, "weights", "vgg19-conv.safetensors"),
             "--style-image", os.path.join(SHARED, "images", "starry_night.jpg"),
             "--content-dir", os.path.join(SHARED, "photos", "train"), "--print-iter", "1", "--output-model", model], "train_style")

    # (2) their net, our file as it is
    tensors, meta, reader = load_model_file(model)
    print(f"model: {model} ({len(tensors)} tensors, read with the {reader})")
    for k in sorted(meta):
        if k != "nst.recipe":
            print(f"  metadata {k} = {meta[k]}")
    net = tn.TransformerNet()
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
    ours, theirs = set(state), set(net.state_dict())
    missing, unexpected = sorted(theirs - ours), sorted(ours - theirs)
    if missing or unexpected:
        print(f"FAIL: key names differ: missing {missing}, unexpected {unexpected}")
        return 1
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"FAIL: load_state_dict(strict=True): {e}")
        return 1
    print(f"load_state_dict(strict=True): ok, {len(state)} keys, none missing or unexpected")
    if meta.get("nst.input", "RGB 0..255") != "RGB 0..255":
        print(f"note: nst.input is {meta['nst.input']!r}, not their stylize's 'RGB 0..255'")
    net.eval()

    # (3) the same PNG to both
    photo = a.photo
    if not photo:
        val = os.path.join(SHARED, "photos", "val")
        photo = os.path.join(val, sorted(f for f in os.listdir(val) if f.lower().endswith((".jpg", ".jpeg", ".png")))[0])
    img = Image.open(photo).convert("RGB")
    s = a.side / max(img.size)
    W, H = (max(4, int(round(v * s / 4)) * 4) for v in img.size)
    png = os.path.join(tmp, "photo.png")
    img.resize((W, H), Image.LANCZOS).save(png)
    print(f"photo: {photo} -> {W}x{H} {png}")

    x = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)  # their recipe: ToTensor() then mul(255)
    xt = torch.from_numpy(x).permute(2, 0, 1).contiguous().div(255).mul(255).unsqueeze(0)
    with torch.no_grad():
        y = net(xt)[0].clamp(0, 255).permute(1, 2, 0).numpy().astype(np.float64)  # save_image clamps (then truncates)

    out = os.path.join(tmp, "ours.png")
    run([os.path.join(a.build, "stylize"), "--model", model, "--content-image", png, "--gpu", "-1", "--output-image", out], "stylize")
    ours_img = Image.open(out)
    if ours_img.size != (W, H):
        print(f"FAIL: stylize wrote {ours_img.size[0]}x{ours_img.size[1]}, not {W}x{H}")
        return 1
    z = np.asarray(ours_img.convert("RGB"), dtype=np.float64)

    # (4)
    d = np.abs(z - y)
    dt = np.abs(z - np.floor(y))  # against their save_image's uint8 (truncated) picture, for information
    inside = float(((y > 0) & (y < 255)).mean())
    print(f"their float output range {y.min():.2f}..{y.max():.2f} ({inside:.0%} of values not clamped); ours {z.min():.0f}..{z.max():.0f}")
    print(f"vs their float picture:   max abs diff {d.max():.4f}, mean abs diff {d.mean():.4f} (0..255 units)")
    print(f"vs their uint8 save_image: max abs diff {dt.max():.0f}, mean abs diff {dt.mean():.4f}")
    ok = d.max() <= a.max_diff and d.mean() <= 0.5
    print(f"{'PASS' if ok else 'FAIL'} (max <= {a.max_diff}, mean <= 0.5)")
    if a.keep:
        print(f"kept {tmp}")
    else:
        for f in os.listdir(tmp):
            os.remove(os.path.join(tmp, f))
        os.rmdir(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
