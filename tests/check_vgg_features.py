#!/usr/bin/env python3
"""Cross-checks apps/vgg_features against PyTorch on real weights (a manual check; needs python3-torch).

    build/vgg_features --image ../shared/images/chelsea.png --gpu -1 \
        --layers relu1_1,relu3_1,relu5_1,pool5 --out /tmp/feats.safetensors
    /usr/bin/python3 tests/check_vgg_features.py ../shared/weights/vgg19-conv.safetensors /tmp/feats.safetensors

It reloads the image named in the features file's metadata with Pillow, applies the weights' input
convention, runs VGG-19 in PyTorch and prints the relative difference per layer. Without --image-size the
comparison is exact up to float rounding (measured: 2e-7 .. 9e-7); with it, stb's and Pillow's resampling
filters differ and the difference is ~5e-2.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": "<f4", "F16": "<f2"}
    out = {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dt[v["dtype"]])
                               .astype(np.float32).reshape(v["shape"]).copy())
           for k, v in h.items() if k != "__metadata__"}
    return out, h.get("__metadata__", {})


def main():
    weights, wmeta = load(sys.argv[1])
    feats, fmeta = load(sys.argv[2])
    w, h = map(int, fmeta["image_size"].split("x"))
    img = Image.open(fmeta["image"]).convert("RGB").resize((w, h), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    scale = float(wmeta.get("input_scale", 1))
    mean = torch.tensor([float(v) for v in wmeta["input_mean"].split(",")]).view(1, 3, 1, 1)
    std = torch.tensor([float(v) for v in wmeta["input_std"].split(",")]).view(1, 3, 1, 1)
    if wmeta.get("input_channel_order") == "BGR":
        x = x.flip(1)
    x = (x * scale - mean) / std
    idx = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    names, i = [], 0
    for b, n in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]:
        for j in range(1, n + 1):
            names += [("conv%d_%d" % (b, j), idx[i]), ("relu%d_%d" % (b, j), None)]
            i += 1
        names.append(("pool%d" % b, None))
    with torch.no_grad():
        for name, k in names:
            if name.startswith("conv"):
                x = F.conv2d(x, weights[f"features.{k}.weight"], weights[f"features.{k}.bias"], padding=1)
            elif name.startswith("relu"):
                x = F.relu(x)
            else:
                x = F.max_pool2d(x, 2, 2)
            if name in feats:
                ours = feats[name]
                err = (ours - x).norm() / x.norm()
                print(f"{name}: shape {tuple(x.shape)} relative difference {err:.2e}")


if __name__ == "__main__":
    main()
