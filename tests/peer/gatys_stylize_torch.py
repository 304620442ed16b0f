#!/usr/bin/env python3
"""PyTorch peer of apps/stylize with its defaults: the same job, for timing it against build/stylize.

VGG-19 through relu5_1 from the safetensors file (model, image loading and Gram from gatys_eval_torch.py),
content loss at relu4_2, Gram style losses at relu1_1..relu5_1, total variation, with stylize's weights
(content 5, style 100, TV 1e-3, for 0..255 inputs, rescaled for other input conventions exactly as
nst/objective.h does: content and TV by s^2, style by s^4), random init (randn * 0.001 / s in the network's
input space), and L-BFGS as neural-style runs it: one torch.optim.LBFGS step with max_iter = N, history
100, lr 1, no line search, tolerances off, so N iterations are N evaluations of the closure.

Prints one line:
    torch <W>x<H> threads <t>: <s> s/eval steady (<n> evals), peak <MiB> MiB, torch <version>
where steady = (end of the last evaluation - end of evaluation 3) / (n - 3), and peak = ru_maxrss.
With --print-iter K it also prints the loss terms of evaluations 1, K, 2K, ... (before that line).

    python tests/peer/gatys_stylize_torch.py --weights W --content C --style S --image-size 256 \
        --num-iterations 20 --threads 2 [--print-iter 1]
"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gatys_eval_torch import features, gram, load_image, load_weights  # noqa: E402

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_LAYER = "relu4_2"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--num-iterations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--content-weight", type=float, default=5.0)
    ap.add_argument("--style-weight", type=float, default=100.0)
    ap.add_argument("--tv-weight", type=float, default=1e-3)
    ap.add_argument("--lbfgs-num-correction", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-iter", type=int, default=0, help="print losses every K evaluations (and the first)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    w, meta = load_weights(a.weights)
    for v in w.values():
        v.requires_grad_(False)
    scale = float(meta.get("input_scale", 1))
    mean_l = [float(v) for v in meta.get("input_mean", "0.485,0.456,0.406").split(",")]
    std_l = [float(v) for v in meta.get("input_std", "0.229,0.224,0.225").split(",")]
    bgr = meta.get("input_channel_order", "RGB").upper() == "BGR"
    mean = torch.tensor(mean_l).view(1, 3, 1, 1)
    std = torch.tensor(std_l).view(1, 3, 1, 1)

    def pre(rgb):
        if bgr:
            rgb = rgb.flip(1)
        return (rgb * scale - mean) / std

    # nst/objective.cpp: weights are for 0..255 inputs; s = 255 / (scale / cbrt(std0 std1 std2)).
    s = 255.0 / (scale / (std_l[0] * std_l[1] * std_l[2]) ** (1.0 / 3.0))
    wc, ws, wtv = a.content_weight * s**2, a.style_weight * s**4, a.tv_weight * s**2

    content = load_image(a.content, a.image_size)
    style = load_image(a.style, a.image_size)  # stylize: style-scale 1, longest side = image size
    with torch.no_grad():
        P = features(w, pre(content), [CONTENT_LAYER])[CONTENT_LAYER]
        A = {l: gram(f) for l, f in features(w, pre(style), STYLE_LAYERS).items()}
    x = (torch.randn(content.shape) * (0.001 / s)).requires_grad_(True)

    layers = STYLE_LAYERS + [CONTENT_LAYER]
    ends = []  # perf_counter at the end of each evaluation

    def closure():
        f = features(w, x, layers)
        c = wc * ((f[CONTENT_LAYER] - P) ** 2).mean()
        st = [ws * ((gram(f[l]) - A[l]) ** 2).mean() for l in STYLE_LAYERS]
        tv = 0.5 * wtv * (((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum() + ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum())
        loss = c + sum(st) + tv
        x.grad = None
        loss.backward()
        k = len(ends) + 1
        if a.print_iter > 0 and (k == 1 or k % a.print_iter == 0 or k == a.num_iterations):
            print(f"iter {k}/{a.num_iterations}  content {c.item():.4g}  style "
                  + " ".join(f"{v.item():.4g}" for v in st) + f"  tv {tv.item():.4g}  total {loss.item():.4g}", flush=True)
        ends.append(time.perf_counter())
        return loss

    opt = torch.optim.LBFGS([x], lr=1, max_iter=a.num_iterations, max_eval=None, history_size=a.lbfgs_num_correction,
                            tolerance_grad=-1, tolerance_change=-1, line_search_fn=None)
    # max_eval defaults to 1.25 * max_iter; without a line search each iteration evaluates once, so it never binds.
    opt.step(closure)

    n = len(ends)
    steady = (ends[-1] - ends[2]) / (n - 3) if n > 3 else float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {content.shape[3]}x{content.shape[2]} threads {torch.get_num_threads()}: "
          f"{steady:.3f} s/eval steady ({n} evals), peak {peak:.0f} MiB, torch {torch.__version__}")


if __name__ == "__main__":
    main()
