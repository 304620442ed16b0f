// The CPU reference kernels: the readable specification of every op.
//
// Plain loops, written to be read next to docs/backprop.md; templated on float and double (double runs
// the float64 gradient checks). Speed is not a goal here: later fast CPU variants are tested against
// these. Outputs are overwritten; scalar results and upstream scalar gradients are single values.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cpu {

// ---- conv2d (conv2d.cpp) ----
// x (N,C,H,W), w (K,C,R,S), b (K) or null  ->  y (N,K,P,Q)
template <class T> void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvShape& s);
// dy (N,K,P,Q), w  ->  dx (N,C,H,W)
template <class T> void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvShape& s);
// x, dy  ->  dw (K,C,R,S)
template <class T> void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvShape& s);
// dy  ->  db (K)
template <class T> void conv2d_backward_bias(const T* dy, T* db, const ConvShape& s);

// ---- the feed-forward networks' ops (feedforward.cpp) ----
// Instance normalisation: y = (x − μ) / √(σ² + eps) · w + b per (n, c) plane, σ² the biased variance;
// w and b may be null (no affine). mean and invstd (N·C) keep μ and 1/√(σ² + eps) for the backward.
template <class T>
void instance_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* invstd, const InstanceNormShape& s,
                           double eps);
// dx = invstd · (g − mean(g) − x̂ · mean(g x̂)) with g = dy · w, x̂ = (x − μ) · invstd, per plane;
// dw = Σ dy x̂ and db = Σ dy (over the plane, and over the batch for per-channel parameters); dw, db
// may be null, and are overwritten.
template <class T>
void instance_norm_backward(const T* x, const T* w, const T* mean, const T* invstd, const T* dy, T* dx, T* dw, T* db,
                            const InstanceNormShape& s);
// out (N,C) = alpha (N,S) · rows (S,C): the style-weighted mix of conditional instance norm's parameter
// rows; its backward drows (S,C) = alphaᵀ · dout.
template <class T> void mix_rows(const T* alpha, const T* rows, T* out, int64_t N, int64_t S, int64_t C);
template <class T> void mix_rows_backward(const T* alpha, const T* dout, T* drows, int64_t N, int64_t S, int64_t C);
template <class T> void reflection_pad_forward(const T* x, T* y, const PadShape& s);
template <class T> void reflection_pad_backward(const T* dy, T* dx, const PadShape& s);  // dx overwritten
template <class T> void resize_nearest_forward(const T* x, T* y, const ResizeShape& s);
template <class T> void resize_nearest_backward(const T* dy, T* dx, const ResizeShape& s);  // dx overwritten
template <class T> void sigmoid_forward(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n);  // dy · y (1 − y)
// The ONNX graphs' per-channel arithmetic (Add, Sub, Mul of a picture and a per-channel value) and their
// GlobalAveragePool. channel_affine: y = x · a[k] + b[k] per (n, c) plane, k = s.param(plane); a or b may
// be null (1, 0). Its backward: dx = dy · a (dx may be null); da[k] = Σ dy·x, db[k] = Σ dy over the
// planes of parameter k (each may be null; overwritten).
template <class T> void channel_affine_forward(const T* x, const T* a, const T* b, T* y, const InstanceNormShape& s);
template <class T>
void channel_affine_backward(const T* x, const T* a, const T* dy, T* dx, T* da, T* db, const InstanceNormShape& s);
// plane_mean: out[p] = Σ x[p, :] / HW for each of `planes` planes; its backward dx[p, i] = dout[p] / HW.
template <class T> void plane_mean_forward(const T* x, T* out, int64_t planes, int64_t HW);
template <class T> void plane_mean_backward(const T* dout, T* dx, int64_t planes, int64_t HW);
// ONNX QuantizeLinear (kernels/shapes.h QuantShape: the rounding, the range, the straight-through backward).
template <class T> void quantize_forward(const T* x, T* y, const QuantShape& s);
template <class T> void quantize_backward(const T* x, const T* dy, T* dx, const QuantShape& s);

// ---- relu (pointwise.cpp) ----
template <class T> void relu_forward(const T* x, T* y, int64_t n);
template <class T> void relu_backward(const T* y, const T* dy, T* dx, int64_t n);

// ---- pooling (pool2d.cpp) ----
// x (N,C,H,W) -> y (N,C,P,Q); argmax (N,C,P,Q) may be null: index h*W+w of the winning input,
// -1 when the window lies entirely in the padding. Ties go to the first element in row-major order.
template <class T> void max_pool_forward(const T* x, T* y, int32_t* argmax, const PoolShape& s);
// Recomputes the winners from x when argmax is null.
template <class T>
void max_pool_backward(const T* x, const int32_t* argmax, const T* dy, T* dx, const PoolShape& s);
template <class T> void avg_pool_forward(const T* x, T* y, const PoolShape& s);
template <class T> void avg_pool_backward(const T* dy, T* dx, const PoolShape& s);

// ---- Gram matrix (gram.cpp) ----
// f (N,C,HW) -> g (N,C,C) = f fᵀ / (C*HW)
template <class T> void gram_forward(const T* f, T* g, const GramShape& s);
// df = (dg + dgᵀ) f / (C*HW)
template <class T> void gram_backward(const T* f, const T* dg, T* df, const GramShape& s);

// ---- pointwise and reductions (pointwise.cpp, reduce.cpp) ----
template <class T> void add(const T* a, const T* b, T* y, int64_t n);
template <class T> void sub(const T* a, const T* b, T* y, int64_t n);
template <class T> void mul(const T* a, const T* b, T* y, int64_t n);
template <class T> void scale(const T* a, T s, T* y, int64_t n);
template <class T> void fill_scaled(const T* g, T s, T* y, int64_t n);
template <class T> void fill(T v, T* y, int64_t n);
template <class T> void sum(const T* x, int64_t n, T* out);
template <class T> void sum_squares(const T* x, int64_t n, T* out);
template <class T> void sum_squares_backward(const T* x, const T* g, int64_t n, T* dx);
template <class T> void mse(const T* a, const T* b, int64_t n, T* out);
template <class T> void mse_backward(const T* a, const T* b, const T* g, int64_t n, T* da);
// TV(x) = sum over n,c,i,j of (x[i][j+1]-x[i][j])^2 + (x[i+1][j]-x[i][j])^2, inside the image only.
template <class T> void tv(const T* x, const ImageShape& s, T* out);
template <class T> void tv_backward(const T* x, const T* g, const ImageShape& s, T* dx);
// small (planes, h, w) = big (planes, H, W)[:, y0:y0+h, x0:x0+w], and back (paste: the window of big
// takes small's values, the rest of big is left as it is).
template <class T> void crop_window(const T* big, const WindowShape& s, T* small);
template <class T> void paste_window(const T* small, const WindowShape& s, T* big);

// ---- BLAS-1 (reduce.cpp, pointwise.cpp) ----
template <class T> void dot(const T* x, const T* y, int64_t n, T* out);
template <class T> void axpy(int64_t n, T alpha, const T* x, T* y);
template <class T> void scal(int64_t n, T alpha, T* x);
template <class T> void nrm2(const T* x, int64_t n, T* out);

// ---- optimizer arithmetic (optim.cpp): contracts in registry.h, OptimVariant ----
void asum(const float* x, int64_t n, float* out_s);
void scale_by_norm(const float* g, const float* norm_s, float strength, int64_t n, float* out);
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y);
void scal_s(int64_t n, const float* coef_s, float* x);
void scalar_mul(const float* a_s, const float* b_s, float* out_s);
void scalar_sub(const float* a_s, const float* b_s, float* out_s);
void lbfgs_pair(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s);
void lbfgs_first_step(const float* gnorm1_s, float lr, float* t_s);
void adam_step(int64_t n, float* x, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, int t);

}  // namespace nst::cpu
