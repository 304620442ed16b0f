#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora in fuzz/corpus/<target>/ (run once; the outputs are committed).

Needs PyTorch (Debian: python3-torch) and Pillow; neither CI nor scripts/fuzz.sh runs this. From the
repository root:  /usr/bin/python3 fuzz/make_seeds.py

Seeds are small on purpose (libFuzzer mutates faster and its -max_len defaults to the largest seed):
a couple of tiny tensors in every format and dtype the readers accept, and tiny images of every kind
stylize loads.
"""
import io
import os
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from make_fixtures import write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(target, name):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def main():
    torch.manual_seed(0)
    sd = {"features.0.weight": torch.randn(2, 1, 3, 3), "features.0.bias": torch.randn(2)}

    # safetensors: each dtype, with and without the input-convention metadata.
    caffe = {"input_channel_order": "BGR", "input_scale": "255", "input_mean": "103.939,116.779,123.68",
             "input_std": "1,1,1"}
    write_safetensors(out("safetensors", "f32_meta.safetensors"), sd, caffe)
    write_safetensors(out("safetensors", "f16.safetensors"), sd, {}, "F16")
    write_safetensors(out("safetensors", "bf16.safetensors"), sd, {}, "BF16")
    write_safetensors(out("safetensors", "f64.safetensors"), sd, {}, "F64")

    # PyTorch checkpoints: zip and legacy formats, a nested state_dict, a strided view, a float64 tensor.
    small = {"features.0.weight": sd["features.0.weight"], "features.0.bias": sd["features.0.bias"].double()}
    torch.save(small, out("torch_checkpoint", "zip.pth"))
    torch.save(small, out("torch_checkpoint", "legacy.pth"), _use_new_zipfile_serialization=False)
    nested = {"state_dict": {"conv1_1.weight": sd["features.0.weight"].permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)},
              "epoch": 3}
    torch.save(nested, out("torch_checkpoint", "nested_strided.pth"))
    torch.save(nested, out("torch_checkpoint", "nested_legacy.pth"), _use_new_zipfile_serialization=False)

    # Images: every mode and container stb_image decodes that users are likely to hand stylize.
    rgb = Image.frombytes("RGB", (5, 3), bytes(range(45)))
    rgb.save(out("image", "rgb.png"))
    rgb.convert("RGBA").save(out("image", "rgba.png"))
    rgb.convert("L").save(out("image", "grey.png"))
    rgb.convert("LA").save(out("image", "grey_alpha.png"))
    rgb.convert("P").save(out("image", "palette.png"))
    Image.frombytes("I;16", (3, 2), bytes(range(12))).save(out("image", "grey16.png"))
    rgb.save(out("image", "rgb.jpg"), quality=90)
    rgb.save(out("image", "rgb_lossless.webp"), lossless=True)
    rgb.convert("RGBA").save(out("image", "rgba_lossy.webp"), quality=80)
    rgb.save(out("image", "progressive.jpg"), quality=90, progressive=True)
    rgb.save(out("image", "rgb.bmp"))
    rgb.save(out("image", "rgb.tga"))
    rgb.save(out("image", "rgb.gif"))
    rgb.save(out("image", "rgb.ppm"))


if __name__ == "__main__":
    main()
