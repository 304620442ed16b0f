#!/usr/bin/env python3
"""The peers of build/bench_style_net, timed the same way (a synthetic 4:3 picture of the same formula,
reflect-padded to a multiple of 4, one cold pass then --repeat warm ones, sizes ascending, max RSS of the
process so far): onnxruntime (CPUExecutionProvider) on an ONNX file, or PyTorch on pytorch/examples'
TransformerNet at the paper's widths (random weights; --save writes them as safetensors so that
bench_style_net runs the same network). Prints one line per size in bench_style_net's columns.
scripts/bench-style.sh runs both sides. Not run by CI.

    ../venvs/torch-pypi/bin/python tests/peer/style_net_peers.py onnx ../shared/models/multistyle26.onnx --style 0
    ../venvs/torch-pypi/bin/python tests/peer/style_net_peers.py torch --save /tmp/tn.safetensors
"""
import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np


def photo(side, aspect="4:3"):
    aw, ah = (int(v) for v in aspect.split(":"))
    W, H = side, (side * ah + aw // 2) // aw
    i = np.arange(H, dtype=np.float64)[:, None]
    j = np.arange(W, dtype=np.float64)[None, :]
    planes = [0.5 + 0.25 * np.sin(0.013 * i * (c + 1) + 0.007 * j) + 0.2 * np.cos(0.05 * (i + j * c)) for c in range(3)]
    x = np.stack(planes)[None].astype(np.float32)
    ph, pw = (-H) % 4, (-W) % 4
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect"), W, H


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name, W, H, times):
    warm = sorted(times[1:])
    print(f"  {W:5d}x{H:<5d} {times[0] * 1e3:9.1f} {statistics.median(warm) * 1e3:9.1f} {warm[0] * 1e3:9.1f} {'-':>12} {rss_mib():12.1f}",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer", choices=["onnx", "torch"])
    ap.add_argument("model", nargs="?", help="the ONNX file (peer onnx)")
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--style", type=int, default=0, help="multi-style ONNX networks: the style given weight 1")
    ap.add_argument("--save", help="peer torch: write the TransformerNet's weights here (safetensors)")
    ap.add_argument("--aspect", default="4:3", help="width:height (1080p: --sizes 1920 --aspect 16:9)")
    ap.add_argument("--device", default="cpu", help="peer torch: cpu or cuda")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.peer == "onnx":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
        inputs = sess.get_inputs()
        print(f"onnxruntime {ort.__version__} (CPUExecutionProvider, {a.threads} intra-op threads): {os.path.basename(a.model)}")
        print(f"  {'size':<11} {'first ms':>9} {'median ms':>9} {'min ms':>9} {'tensors MiB':>12} {'max RSS MiB':>12}")
        for side in sizes:
            x, W, H = photo(side, a.aspect)
            feeds = {inputs[0].name: x}
            if len(inputs) > 1:
                sw = np.zeros(inputs[1].shape[0], np.float32)
                sw[a.style] = 1
                feeds[inputs[1].name] = sw
            times = []
            for _ in range(a.repeat + 1):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                times.append(time.perf_counter() - t0)
            report("ort", W, H, times)
    else:
        import torch
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import make_transformer_fixtures as mtf
        from make_fixtures import write_safetensors
        torch.set_num_threads(a.threads)
        mtf.W1, mtf.W2, mtf.W3 = 32, 64, 128
        torch.manual_seed(0)
        net = mtf.Net().eval()
        if a.save:
            write_safetensors(a.save, net.state_dict(), None)
        net = net.to(a.device)
        sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
        where = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"{torch.get_num_threads()} threads"
        print(f"torch {torch.__version__} ({where}): TransformerNet (32, 64, 128), random weights")
        print(f"  {'size':<11} {'first ms':>9} {'median ms':>9} {'min ms':>9} {'tensors MiB':>12} {'max RSS MiB':>12}")
        for side in sizes:
            x, W, H = photo(side, a.aspect)
            xt = (torch.from_numpy(x) * 255).to(a.device)
            times = []
            with torch.no_grad():
                for _ in range(a.repeat + 1):
                    sync()
                    t0 = time.perf_counter()
                    net(xt)
                    sync()
                    times.append(time.perf_counter() - t0)
            report("torch", W, H, times)


if __name__ == "__main__":
    main()
