#!/usr/bin/env python3
"""PyTorch peer of train_style's training step: pytorch/examples' fast_neural_style recipe (TransformerNet,
the perceptual loss through VGG-19 at relu2_2 for content and relu1_2, relu2_2, relu3_4, relu4_4 for style,
Gram matrices divided by C*H*W, Adam), on the same VGG-19 weights file and its input convention, the same
batch size and crop size. Batches are random crops of the same photos, decoded before timing: only the
step (forward, loss, backward, Adam) is timed, median after 3 warm-up steps. Run by scripts/bench-train.sh.

    python tests/peer/train_step_torch.py --weights W --style S --content-dir DIR --batch-size 4 \
        --image-size 256 --steps 10 --threads 2 [--device cuda]

The last line is the result line the script parses: "torch train: S s/step (median of N), peak M MiB, ...".
"""
import argparse
import os
import random
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gatys_eval_torch import CONVS, load_weights  # noqa: E402


class ConvLayer(torch.nn.Module):
    def __init__(self, cin, cout, k, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.pad = torch.nn.ReflectionPad2d(k // 2)
        self.conv2d = torch.nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.pad(x))


class ResidualBlock(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = ConvLayer(c, c, 3, 1)
        self.in1 = torch.nn.InstanceNorm2d(c, affine=True)
        self.conv2 = ConvLayer(c, c, 3, 1)
        self.in2 = torch.nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class TransformerNet(torch.nn.Module):  # pytorch/examples' fast_neural_style/neural_style/transformer_net.py
    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, 32, 9, 1), torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = ConvLayer(32, 64, 3, 2), torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = ConvLayer(64, 128, 3, 2), torch.nn.InstanceNorm2d(128, affine=True)
        self.res = torch.nn.Sequential(*[ResidualBlock(128) for _ in range(5)])
        self.deconv1, self.in4 = ConvLayer(128, 64, 3, 1, 2), torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = ConvLayer(64, 32, 3, 1, 2), torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.res(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def vgg(w, x, layers):
    out, h, i = {}, x, 0
    for block, n in [(1, 2), (2, 2), (3, 4), (4, 4)]:
        for j in range(1, n + 1):
            idx = CONVS[i]
            i += 1
            h = F.relu(F.conv2d(h, w[f"features.{idx}.weight"], w[f"features.{idx}.bias"], padding=1))
            if f"relu{block}_{j}" in layers:
                out[f"relu{block}_{j}"] = h
            if len(out) == len(layers):
                return out
        h = F.max_pool2d(h, 2, 2)
    return out


def gram(f):
    b, c, h, w = f.shape
    f = f.reshape(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--content-dir", required=True)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--style-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    w, meta = load_weights(a.weights)
    w = {k: v.to(dev) for k, v in w.items()}
    scale = float(meta.get("input_scale", "255"))
    mean = torch.tensor([float(v) for v in meta.get("input_mean", "123.68,116.779,103.939").split(",")], device=dev)
    std = torch.tensor([float(v) for v in meta.get("input_std", "1,1,1").split(",")], device=dev)
    bgr = meta.get("input_channel_order", "RGB") == "BGR"

    def pre(y255):  # 0..255 RGB -> the file's convention
        x = y255 / 255.0 * scale
        if bgr:
            x = x.flip(1)
        return (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)

    # The file's feature scale over torchvision's (train/perceptual_loss.h): weights in the examples' units.
    torchvision_scale = 255.0 * (0.229 * 0.224 * 0.225) ** (1 / 3)
    r = torchvision_scale / (255.0 / (scale / float(np.cbrt(np.prod(std.cpu().numpy())))))
    cw, sw = 1e5 / r**2, 1e10 / r**4
    content_layers, style_layers = ["relu2_2"], ["relu1_2", "relu2_2", "relu3_4", "relu4_4"]

    img = Image.open(a.style).convert("RGB")
    s = a.style_size / max(img.size)
    img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.BICUBIC)
    style = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0).to(dev)
    with torch.no_grad():
        gs = [gram(f) for f in vgg(w, pre(style), style_layers).values()]

    files = sorted(os.path.join(a.content_dir, f) for f in os.listdir(a.content_dir) if f.lower().endswith((".jpg", ".png")))
    rng = random.Random(42)
    batches = []
    for _ in range(a.steps + 3):
        b = []
        for p in rng.sample(files, a.batch_size):
            im = Image.open(p).convert("RGB")
            side = min(im.size)
            x0, y0 = rng.randint(0, im.size[0] - side), rng.randint(0, im.size[1] - side)
            im = im.crop((x0, y0, x0 + side, y0 + side)).resize((a.image_size, a.image_size), Image.BILINEAR)
            b.append(torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1))
        batches.append(torch.stack(b).to(dev))

    torch.manual_seed(42)
    net = TransformerNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    times = []
    for i, x in enumerate(batches):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        y = net(x)
        fy = vgg(w, pre(y), sorted(set(content_layers + style_layers)))
        with torch.no_grad():
            fx = vgg(w, pre(x), content_layers)
        content = sum(F.mse_loss(fy[l], fx[l]) for l in content_layers)
        style_loss = sum(F.mse_loss(gram(fy[l]), g.expand(x.shape[0], -1, -1)) for l, g in zip(style_layers, gs))
        loss = cw * content + sw * style_loss
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch train: {statistics.median(times):.3f} s/step (median of {len(times)}), peak {peak:.0f} MiB, "
          f"batch {a.batch_size} at {a.image_size} px, loss {loss_value:.4g}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
