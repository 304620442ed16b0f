#!/usr/bin/env python3
"""Writes the TransformerNet fixtures in tests/fixtures/ (run once; the outputs are committed; CI never
runs this). Needs PyTorch:  ../venvs/torch-pypi/bin/python tests/make_transformer_fixtures.py

The network is the one of pytorch/examples' fast_neural_style (Johnson et al. with instance norm),
written out here from its description (layers and state-dict names, as in layers/transformer_net.h)
at narrow widths (2, 4, 8 instead of 32, 64, 128) so the files stay small, with random weights and
random norm scales and shifts. Files:
  transformer_tiny.safetensors      its state dict
  transformer_tiny.pth              the same, torch.save's zip format
  transformer_tiny_legacy.pth       the same in the legacy format, with the running_mean / running_var
                                    keys old pytorch/examples files carry
  transformer_tiny_cond.safetensors the conditional-instance-norm form (3 styles: norm rows (3, C))
  transformer_tiny_io.safetensors   input (1,3,21,17, 0..255), output of the plain network, output of
                                    the conditional one for style weights cond_alpha (1,3)
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
W1, W2, W3 = 2, 4, 8


class CondNorm(nn.Module):
    """Instance norm with one (scale, shift) row per style, mixed by alpha (N, S)."""

    def __init__(self, c, styles):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(styles, c))
        self.bias = nn.Parameter(torch.zeros(styles, c))
        self.alpha = None

    def forward(self, x):
        y = F.instance_norm(x, eps=1e-5)
        w, b = self.alpha @ self.weight, self.alpha @ self.bias
        return y * w[:, :, None, None] + b[:, :, None, None]


def norm(c, styles):
    return CondNorm(c, styles) if styles else nn.InstanceNorm2d(c, affine=True)


class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.pad(x))


class Residual(nn.Module):
    def __init__(self, c, styles):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(c, c, 3, 1), norm(c, styles)
        self.conv2, self.in2 = ConvLayer(c, c, 3, 1), norm(c, styles)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class Net(nn.Module):
    def __init__(self, styles=0):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, W1, 9, 1), norm(W1, styles)
        self.conv2, self.in2 = ConvLayer(W1, W2, 3, 2), norm(W2, styles)
        self.conv3, self.in3 = ConvLayer(W2, W3, 3, 2), norm(W3, styles)
        for i in range(1, 6):
            setattr(self, f"res{i}", Residual(W3, styles))
        self.deconv1, self.in4 = ConvLayer(W3, W2, 3, 1, upsample=2), norm(W2, styles)
        self.deconv2, self.in5 = ConvLayer(W2, W1, 3, 1, upsample=2), norm(W1, styles)
        self.deconv3 = ConvLayer(W1, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def randomise_norms(net):
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".conv2d." not in name:
                p.copy_((torch.rand_like(p) * 1.5 + 0.25) if name.endswith("weight") else torch.randn_like(p) * 0.3)


def main():
    torch.manual_seed(23)
    x = torch.rand(1, 3, 21, 17) * 255
    plain = Net().eval()
    randomise_norms(plain)
    sd = {k: v for k, v in plain.state_dict().items()}
    write_safetensors(os.path.join(OUT, "transformer_tiny.safetensors"), sd, None)
    torch.save(sd, os.path.join(OUT, "transformer_tiny.pth"))
    legacy = dict(sd)
    for k in list(sd):
        if k.startswith("in") and k.endswith(".weight") and "." in k and k.count(".") == 1:
            c = sd[k].shape[0]
            legacy[k.replace("weight", "running_mean")] = torch.zeros(c)
            legacy[k.replace("weight", "running_var")] = torch.ones(c)
    torch.save(legacy, os.path.join(OUT, "transformer_tiny_legacy.pth"), _use_new_zipfile_serialization=False)

    cond = Net(styles=3).eval()
    randomise_norms(cond)
    alpha = torch.tensor([[0.2, 0.5, 0.3]])
    for m in cond.modules():
        if isinstance(m, CondNorm):
            m.alpha = alpha
    write_safetensors(os.path.join(OUT, "transformer_tiny_cond.safetensors"), cond.state_dict(), None)
    with torch.no_grad():
        io = {"input": x, "output": plain(x), "cond_alpha": alpha, "cond_output": cond(x)}
    write_safetensors(os.path.join(OUT, "transformer_tiny_io.safetensors"), io, None)
    print("output", tuple(io["output"].shape), "range", float(io["output"].min()), float(io["output"].max()))


if __name__ == "__main__":
    main()
