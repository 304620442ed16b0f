#!/usr/bin/env python3
"""Writes the small reference fixtures in tests/fixtures/ (run once; the outputs are committed).

Needs PyTorch (Debian: python3-torch) and Pillow; CI never runs this. Run from the repository root:
    /usr/bin/python3 tests/make_fixtures.py

What it writes: a VGG-19-shaped network with few channels (random He-initialised weights) saved in every
format the C++ readers accept, a random network input, torch's activations at several taps (max and
average pooling), a small PNG with its preprocessed tensor under a BGR 0..255 convention.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
torch.manual_seed(0)

# (name, torchvision index) of VGG-19's conv layers, and the tiny widths used here.
CONVS = [("conv1_1", 0), ("conv1_2", 2), ("conv2_1", 5), ("conv2_2", 7), ("conv3_1", 10), ("conv3_2", 12),
         ("conv3_3", 14), ("conv3_4", 16), ("conv4_1", 19), ("conv4_2", 21), ("conv4_3", 23), ("conv4_4", 25),
         ("conv5_1", 28), ("conv5_2", 30), ("conv5_3", 32), ("conv5_4", 34)]
WIDTH = {"1": 4, "2": 6, "3": 8, "4": 8, "5": 8}


def make_state_dict():
    sd, cin = {}, 3
    for name, idx in CONVS:
        cout = WIDTH[name[4]]
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.randn(cout) * 0.1
        cin = cout
    sd["classifier.0.weight"] = torch.randn(5, 8)  # not a conv: the loader must ignore it
    return sd


def write_safetensors(path, tensors, metadata, dtype="F32"):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        if dtype == "F32":
            raw = t.float().numpy().astype("<f4").tobytes()
        elif dtype == "F16":
            raw = t.half().numpy().astype("<f2").tobytes()
        elif dtype == "F64":
            raw = t.double().numpy().astype("<f8").tobytes()
        else:  # BF16: the top 16 bits of each float32 after torch's rounding
            raw = t.bfloat16().view(torch.int16).numpy().astype("<i2").tobytes()
        header[k] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def vgg_forward(sd, x, taps, pool):
    out, h, i = {}, x, 0
    layers = []
    for block, n in [(1, 2), (2, 2), (3, 4), (4, 4), (5, 4)]:
        for j in range(1, n + 1):
            layers += [("conv%d_%d" % (block, j), "conv", CONVS[i][1]), ("relu%d_%d" % (block, j), "relu", None)]
            i += 1
        layers.append(("pool%d" % block, "pool", None))
    for name, kind, idx in layers:
        if kind == "conv":
            h = F.conv2d(h, sd[f"features.{idx}.weight"], sd[f"features.{idx}.bias"], padding=1)
        elif kind == "relu":
            h = F.relu(h)
        else:
            h = F.max_pool2d(h, 2, 2) if pool == "max" else F.avg_pool2d(h, 2, 2)
        if name in taps:
            out[name] = h if h.requires_grad else h.clone()
            if len(out) == len(taps):
                break
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = make_state_dict()
    conv_only = {k: v for k, v in sd.items() if k.startswith("features")}

    torch.save(sd, os.path.join(OUT, "vgg_tiny_zip.pth"))
    torch.save(sd, os.path.join(OUT, "vgg_tiny_legacy.pth"), _use_new_zipfile_serialization=False)
    # Gatys' vgg_conv.pth names its layers convX_Y; wrapped in {"state_dict": ...} as many trainers save.
    gatys = {name + "." + p: sd[f"features.{idx}.{p}"] for name, idx in CONVS for p in ("weight", "bias")}
    torch.save({"state_dict": gatys, "epoch": 3}, os.path.join(OUT, "vgg_tiny_gatys.pth"))
    # Non-contiguous and offset views: conv1_1's weight stored transposed, conv1_1's bias a slice of a
    # bigger storage.
    strided = dict(conv_only)
    w = sd["features.0.weight"]
    strided["features.0.weight"] = w.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
    big = torch.cat([torch.zeros(3), sd["features.0.bias"], torch.zeros(2)])
    strided["features.0.bias"] = big[3:3 + w.shape[0]]
    torch.save(strided, os.path.join(OUT, "vgg_tiny_strided.pth"))
    # The pre-0.4 tensor constructor (_rebuild_tensor), in the legacy format.
    orig = torch.Tensor.__reduce_ex__

    def old_reduce(self, proto):
        return (torch._utils._rebuild_tensor, (self.storage(), self.storage_offset(), tuple(self.size()), self.stride()))

    # torch 0.1's form: the tensor class called with no arguments, then BUILD with its state.
    def setstate_reduce(self, proto):
        return (torch.FloatTensor, (), (self.storage(), self.storage_offset(), tuple(self.size()), self.stride()))

    for reduce, fname in ((old_reduce, "vgg_tiny_old_rebuild.pth"), (setstate_reduce, "vgg_tiny_setstate.pth")):
        torch.Tensor.__reduce_ex__ = reduce
        try:
            torch.save(conv_only, os.path.join(OUT, fname), _use_new_zipfile_serialization=False)
        finally:
            torch.Tensor.__reduce_ex__ = orig

    caffe = {"input_channel_order": "BGR", "input_scale": "255", "input_mean": "103.939,116.779,123.68",
             "input_std": "1,1,1"}
    write_safetensors(os.path.join(OUT, "vgg_tiny.safetensors"), conv_only, caffe)
    write_safetensors(os.path.join(OUT, "vgg_tiny_f16.safetensors"), conv_only, {}, "F16")
    write_safetensors(os.path.join(OUT, "vgg_tiny_bf16.safetensors"), conv_only, {}, "BF16")
    # What the F16 and BF16 files hold, as float32, for exact comparison.
    write_safetensors(os.path.join(OUT, "vgg_tiny_f16_expected.safetensors"),
                      {k: v.half().float() for k, v in conv_only.items()}, {})
    write_safetensors(os.path.join(OUT, "vgg_tiny_bf16_expected.safetensors"),
                      {k: v.bfloat16().float() for k, v in conv_only.items()}, {})

    # A network input of odd size that survives five poolings, and torch's activations.
    x = torch.randn(1, 3, 67, 45)
    taps = ["conv1_1", "relu1_1", "pool1", "relu2_1", "relu3_1", "relu4_2", "relu5_1", "pool5"]
    act = {"input": x}
    for pool in ("max", "avg"):
        for k, v in vgg_forward(conv_only, x, taps, pool).items():
            act[f"{pool}.{k}"] = v
    write_safetensors(os.path.join(OUT, "vgg_tiny_activations.safetensors"), act, {"taps": ",".join(taps)})

    # Style-transfer loss terms and gradient for a fixed image (neural-style definitions, docs/nst.md),
    # with the tiny VGG under its BGR 0..255 convention and two blended style images.
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    pre = lambda rgb: rgb.flip(1) * 255.0 - mean
    content = torch.rand(1, 3, 32, 27)
    style_a, style_b = torch.rand(1, 3, 29, 35), torch.rand(1, 3, 33, 33)
    x = (pre(content) + 20 * torch.randn(1, 3, 32, 27)).requires_grad_()
    content_layers, style_layers = ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    blend = [0.3, 0.7]

    def gram(f):
        n, c, h, w = f.shape
        f = f.reshape(c, h * w)
        return f @ f.t() / (c * h * w)

    with torch.no_grad():
        P = vgg_forward(conv_only, pre(content), content_layers, "max")
        A = {l: sum(b * gram(vgg_forward(conv_only, pre(s), style_layers, "max")[l]) for b, s in zip(blend, (style_a, style_b)))
             for l in style_layers}
    F_ = vgg_forward(conv_only, x, content_layers + style_layers, "max")
    terms = {"content.0": 5.0 * ((F_["relu4_2"] - P["relu4_2"]) ** 2).mean()}
    for i, l in enumerate(style_layers):
        terms[f"style.{i}"] = 100.0 * ((gram(F_[l]) - A[l]) ** 2).mean()
    dh, dv = x[:, :, :, 1:] - x[:, :, :, :-1], x[:, :, 1:, :] - x[:, :, :-1, :]
    terms["tv"] = 1e-3 * 0.5 * ((dh ** 2).sum() + (dv ** 2).sum())
    total = sum(terms.values())
    total.backward()
    meta = {k: repr(float(v)) for k, v in terms.items()}
    meta["total"] = repr(float(total))
    write_safetensors(os.path.join(OUT, "nst_loss.safetensors"),
                      {"content_rgb": content, "style_a_rgb": style_a, "style_b_rgb": style_b, "x": x.detach(),
                       "grad": x.grad}, meta)

    # A 7x5 RGB PNG and its preprocessed tensor under the BGR 0..255 convention above.
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(os.path.join(OUT, "tiny_rgb.png"))
    Image.fromarray(pixels, "RGB").save(os.path.join(OUT, "tiny_rgb.webp"), lossless=True)  # the same pixels
    rgb = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)  # (3,H,W), 0..1
    bgr = rgb.flip(0) * 255.0 - torch.tensor([103.939, 116.779, 123.68]).view(3, 1, 1)
    write_safetensors(os.path.join(OUT, "tiny_rgb_preprocessed.safetensors"), {"bgr255": bgr.unsqueeze(0)}, {})
    # The image kinds stylize must read: grey, grey+alpha, RGBA, 16-bit grey, JPEG. Same 6x4 pattern.
    pat = (np.arange(24, dtype=np.float64).reshape(4, 6) / 23.0)
    Image.fromarray((pat * 255).round().astype(np.uint8), "L").save(os.path.join(OUT, "kind_grey.png"))
    la = np.stack([(pat * 255).round(), np.full((4, 6), 128.0)], -1).astype(np.uint8)
    Image.fromarray(la, "LA").save(os.path.join(OUT, "kind_grey_alpha.png"))
    rgba = np.stack([(pat * 255).round()] * 3 + [np.full((4, 6), 7.0)], -1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "kind_rgba.png"))
    Image.fromarray((pat * 65535).round().astype(np.uint16), "I;16").save(os.path.join(OUT, "kind_grey16.png"))
    Image.fromarray(np.stack([(pat * 255).round().astype(np.uint8)] * 3, -1), "RGB").save(
        os.path.join(OUT, "kind_rgb.jpg"), quality=100)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
