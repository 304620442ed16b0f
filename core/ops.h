// The differentiable ops. Each checks its arguments (clear nst::Error on a bad shape, dtype or device),
// runs the kernel variant chosen by core/dispatch.h (float32) or the CPU reference (float64), and records
// its backward (core/autograd.h). Derivations of every backward: docs/backprop.md.
// Tensors are NCHW; "scalar" means a tensor of shape [] with one element, on the inputs' device.
#pragma once
#include "core/tensor.h"

namespace nst {

// x (N,C,H,W), w (K,C,R,S), b (K) or undefined -> (N,K,P,Q), P = (H + 2 pad - R) / stride + 1.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, int stride = 1, int pad = 0);

// Frozen weights put once into the form the current conv2d kernel works on (the CPU Winograd kernel's
// G g Gᵀ), so that every later call skips that work. `kernel` is the variant that made it; `data` is
// undefined when that kernel has no such form. Stale if w's values change afterwards: prepare again.
struct Conv2dVariant;
struct PreparedConvWeights {
    const Conv2dVariant* kernel = nullptr;
    Tensor data;
};
PreparedConvWeights prepare_conv2d_weights(const Tensor& w, int stride, int pad);
// conv2d with prepared weights: used when `prepared` came from the kernel that dispatch picks now (else
// ignored). w must still be passed: it is what autograd and the other kernels see.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, const PreparedConvWeights* prepared);
// relu(conv2d(x, w, b)) as one op: the ReLU runs in the conv kernel's epilogue (ConvShape::relu), so the
// pre-activation is never written; equal to the two ops to the bit, and its backward masks the gradient
// by y > 0 before the conv's. Derivation: docs/backprop.md#conv2d-relu.
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad,
                   const PreparedConvWeights* prepared = nullptr);
Tensor relu(const Tensor& x);
// Square windows: kernel x kernel, stride, zero padding on each side (never wins a max; counts as 0 in
// an average, whose divisor is always kernel^2).
Tensor max_pool2d(const Tensor& x, int kernel = 2, int stride = 2, int pad = 0);
Tensor avg_pool2d(const Tensor& x, int kernel = 2, int stride = 2, int pad = 0);
// x (N,C,H,W) -> (N,C,C), G = F Fᵀ / (C H W) with F the (C, HW) view of each image.
Tensor gram(const Tensor& x);

Tensor sum_squares(const Tensor& x);             // scalar Σ x²
Tensor mse(const Tensor& a, const Tensor& b);    // scalar mean((a − b)²)
Tensor total_variation(const Tensor& x);         // x (N,C,H,W): scalar Σ (x[i,j+1]−x[i,j])² + (x[i+1,j]−x[i,j])²

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);    // elementwise
Tensor scale(const Tensor& a, double s);
Tensor sum(const Tensor& a);                     // scalar Σ a

// Identity forward; backward replaces the incoming gradient g by strength · g / (‖g‖₁ + 1e-8)
// (neural-style's --normalize-gradients, applied where a loss meets the network). float32 only.
Tensor normalize_gradient(const Tensor& x, double strength);

// A window of an (N,C,H,W) tensor: rows y0..y0+h, columns x0..x0+w -> (N,C,h,w). Its backward puts the
// gradient back into a zero tensor of x's shape. Tiled stylization (nst/tiled_objective.h) cuts tiles
// and their features with it. F32 on either device, F64 on the CPU; one kernel call per window (the
// vector kernels' crop_window / paste_window).
Tensor crop2d(const Tensor& x, int64_t y0, int64_t x0, int64_t h, int64_t w);
// dst[:, :, y0:y0+h, x0:x0+w] = src (src (N,C,h,w)), in place, not recorded.
void paste2d(Tensor& dst, const Tensor& src, int64_t y0, int64_t x0);

// ---- the feed-forward style networks' ops (core/ops/feedforward.cpp; issue #23) ----
// Instance normalisation (Ulyanov et al.): each (n, c) plane of x (N,C,H,W) to zero mean and unit variance
// (biased, + eps), then · weight + bias: (C) each, (N,C) for a per-sample affine (conditional instance
// norm), or undefined (none). Gradients for x, weight and bias. While a NormStatsPlan (core/norm_stats.h)
// is installed on the thread, the statistics come from it or are collected for it (tiled stylization).
Tensor instance_norm(const Tensor& x, const Tensor& weight = {}, const Tensor& bias = {}, double eps = 1e-5);
// alpha (N,S) · rows (S,C) -> (N,C): each sample's style-weighted mix of parameter rows. alpha is a
// constant (no gradient); rows get one.
Tensor mix_rows(const Tensor& alpha, const Tensor& rows);
// Dumoulin et al.'s conditional instance norm: one row of scale and shift per style (S,C), mixed per
// sample by alpha (N,S) (one-hot for one style; weights summing to 1 interpolate).
Tensor conditional_instance_norm(const Tensor& x, const Tensor& weight_rows, const Tensor& bias_rows,
                                 const Tensor& alpha, double eps = 1e-5);
// Mirror padding without repeating the edge (PyTorch's ReflectionPad2d); each pad less than its side.
Tensor reflection_pad2d(const Tensor& x, int top, int bottom, int left, int right);
// Nearest-neighbour resize to height x width: y[i][j] = x[i·H/height][j·W/width] (ONNX Resize,
// 'asymmetric', 'floor'); upsample_nearest2d(x, f) is the integer-factor case.
Tensor resize_nearest(const Tensor& x, int64_t height, int64_t width);
Tensor upsample_nearest2d(const Tensor& x, int factor);
Tensor sigmoid(const Tensor& x);  // 1 / (1 + e^−x)
// The ONNX graphs' per-channel arithmetic: y = x · a + b per (n, c) plane of x (N,C,H,W), a and b (C) or
// (N,C) or undefined (1, 0). Gradients for x, a and b.
Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b);
// GlobalAveragePool: (N,C,H,W) -> (N,C,1,1), the mean of each plane.
Tensor spatial_mean(const Tensor& x);
// ONNX QuantizeLinear and DequantizeLinear with one scale and zero point (per tensor): quantize gives the
// integer values as floats, clamp(round_half_even(x / scale) + zero_point, qmin, qmax) (int8: −128, 127);
// its gradient is the straight-through estimator (kernels/shapes.h QuantShape). dequantize gives
// (q − zero_point) · scale.
Tensor quantize_linear(const Tensor& x, double scale, double zero_point, double qmin = -128, double qmax = 127);
Tensor dequantize_linear(const Tensor& q, double scale, double zero_point);

// y += g, in place, not recorded (used by the engine to accumulate leaf gradients).
void add_into(Tensor& y, const Tensor& g);

}  // namespace nst
