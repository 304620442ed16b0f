#!/usr/bin/env python3
"""Draws train_style --log-json files as loss curves (log scale) into a PNG for docs/fast.md.
Needs Pillow (the peers' venv). usage: plot-train-log.py OUT.png LABEL=LOG.json [LABEL=LOG.json ...]"""
import json
import math
import sys

from PIL import Image, ImageDraw

W, H, L, R, T, B = 640, 300, 60, 10, 10, 30
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
runs = []
for arg in sys.argv[2:]:
    label, path = arg.split("=", 1)
    steps = json.load(open(path))["steps"]
    runs.append((label, [(s["step"], s["loss"]) for s in steps]))
xmax = max(p[0] for _, pts in runs for p in pts)
lo = math.floor(math.log10(min(p[1] for _, pts in runs for p in pts)))
hi = math.ceil(math.log10(max(p[1] for _, pts in runs for p in pts)))
img = Image.new("RGB", (W, H), "white")
d = ImageDraw.Draw(img)
fx = lambda s: L + (W - L - R) * s / xmax
fy = lambda v: T + (H - T - B) * (hi - math.log10(v)) / (hi - lo)
d.rectangle([L, T, W - R, H - B], outline="black")
for e in range(lo, hi + 1):
    d.line([L - 4, fy(10 ** e), L, fy(10 ** e)], fill="black")
    d.text((4, fy(10 ** e) - 6), f"1e{e}", fill="black")
tick = next(t for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if xmax / t <= 8)
for s in range(0, int(xmax) + 1, tick):
    d.line([fx(s), H - B, fx(s), H - B + 4], fill="black")
    d.text((fx(s) - 10, H - B + 6), f"{s}", fill="black")
d.text((W // 2 - 20, H - 14), "step", fill="black")
for i, (label, pts) in enumerate(runs):
    c = COLOURS[i % len(COLOURS)]
    d.line([(fx(s), fy(v)) for s, v in pts], fill=c, width=2)
    d.text((W - R - 230, T + 8 + 14 * i), label, fill=c)
img.save(sys.argv[1])
print("wrote", sys.argv[1])
