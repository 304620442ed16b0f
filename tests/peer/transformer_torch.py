#!/usr/bin/env python3
"""PyTorch's time for one TransformerNet forward pass (pytorch/examples' network at the paper's widths,
random weights), the peer of `stylize --model` in the CPU comparison; also writes the network as
safetensors so that stylize runs the same weights. Not run by CI.

    ../venvs/torch-pypi/bin/python tests/peer/transformer_torch.py --size 512 --threads 2 --save /tmp/tn.safetensors
    build/stylize --model /tmp/tn.safetensors --content-image photo.jpg --image-size 512 --gpu -1
"""
import argparse
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_transformer_fixtures as mtf  # noqa: E402
from make_fixtures import write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512, help="longest side; the other is 2/3 of it")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--save", help="write the network's state dict here (safetensors)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    mtf.W1, mtf.W2, mtf.W3 = 32, 64, 128
    torch.manual_seed(0)
    net = mtf.Net().eval()
    if a.save:
        write_safetensors(a.save, net.state_dict(), None)
    h = a.size * 2 // 3
    x = torch.rand(1, 3, h + (-h) % 4, a.size + (-a.size) % 4) * 255
    times = []
    with torch.no_grad():
        net(x)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} TransformerNet {x.shape[3]}x{x.shape[2]} threads {a.threads}: "
          f"{statistics.median(times):.3f} s (min {min(times):.3f}), peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
