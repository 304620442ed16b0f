// The project's hand-written CUDA kernels, declared as host-side launchers on device pointers.
// Same contracts as the CPU reference (kernels/cpu/cpu_kernels.h); float32 only.
// This is variant "naive" of each op: a first correct version, one thread per output element
// (or one block per reduced output). Faster variants are added next to them, numbered.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cuda {

// conv2d.cu
void conv2d_forward_naive(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_naive(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight_naive(const float* x, const float* dy, float* dw, const ConvShape& s);
void conv2d_backward_bias_naive(const float* dy, float* db, const ConvShape& s);

// conv2d_ladder.cu: variants 2 "smem", 3 "igemm", 4 "igemm_tf32", 5 "igemm_mma_tf32", 6 "igemm128" (docs/kernels.md).
// backward-weight and backward-bias are the naive kernels'. Prepared weights: [w | flipped, transposed w] (2·K·C·R·S floats).
void conv2d_forward_smem(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_smem(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_forward_igemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_forward_igemm_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm_tf32(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_forward_igemm_mma_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm_mma_tf32(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_forward_igemm128(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm128(const float* dy, const float* w, float* dx, const ConvShape& s);
int64_t conv2d_prepared_size_flipped(const ConvShape& s);
void conv2d_prepare_flipped(const float* w, float* prepared, const ConvShape& s);
void conv2d_forward_smem_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_smem_prepared(const float* dy, const float* p, float* dx, const ConvShape& s);
void conv2d_forward_igemm_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm_prepared(const float* dy, const float* p, float* dx, const ConvShape& s);
void conv2d_forward_igemm_tf32_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm_tf32_prepared(const float* dy, const float* p, float* dx, const ConvShape& s);
void conv2d_forward_igemm_mma_tf32_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm_mma_tf32_prepared(const float* dy, const float* p, float* dx, const ConvShape& s);
void conv2d_forward_igemm128_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_igemm128_prepared(const float* dy, const float* p, float* dx, const ConvShape& s);

// pool2d.cu
void max_pool_forward_naive(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void max_pool_backward_naive(const float* x, const float* y, const int32_t* argmax, const float* dy,
                             float* dx, const PoolShape& s);
void avg_pool_forward_naive(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void avg_pool_backward_naive(const float* x, const float* y, const int32_t* argmax, const float* dy,
                             float* dx, const PoolShape& s);

// gram.cu
void gram_forward_naive(const float* f, float* g, const GramShape& s);
void gram_backward_naive(const float* f, const float* dg, float* df, const GramShape& s);

// gram_ladder.cu: variants 2 "tiled", 3 "syrk", 4 "syrk_tf32", 5 "syrk_mma_tf32" (docs/kernels.md); 2-4
// share one fp32 backward, 5 has its own on tensor cores.
void gram_forward_tiled(const float* f, float* g, const GramShape& s);
void gram_forward_syrk(const float* f, float* g, const GramShape& s);
void gram_forward_syrk_tf32(const float* f, float* g, const GramShape& s);
void gram_forward_syrk_mma_tf32(const float* f, float* g, const GramShape& s);
void gram_backward_gemm(const float* f, const float* dg, float* df, const GramShape& s);
void gram_backward_mma_tf32(const float* f, const float* dg, float* df, const GramShape& s);  // rung 5's

// feedforward.cu: the feed-forward style networks' ops (instance norm, its conditional rows, reflection
// padding, nearest resize, sigmoid), as the CPU reference's contracts.
void instance_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* invstd,
                           const InstanceNormShape& s, double eps);
void instance_norm_backward(const float* x, const float* w, const float* mean, const float* invstd, const float* dy,
                            float* dx, float* dw, float* db, const InstanceNormShape& s);
void mix_rows(const float* alpha, const float* rows, float* out, int64_t N, int64_t S, int64_t C);
void mix_rows_backward(const float* alpha, const float* dout, float* drows, int64_t N, int64_t S, int64_t C);
void reflection_pad_forward(const float* x, float* y, const PadShape& s);
void reflection_pad_backward(const float* dy, float* dx, const PadShape& s);
void resize_nearest_forward(const float* x, float* y, const ResizeShape& s);
void resize_nearest_backward(const float* dy, float* dx, const ResizeShape& s);
void sigmoid_forward(const float* x, float* y, int64_t n);
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n);
void channel_affine_forward(const float* x, const float* a, const float* b, float* y, const InstanceNormShape& s);
void channel_affine_backward(const float* x, const float* a, const float* dy, float* dx, float* da, float* db,
                             const InstanceNormShape& s);
void plane_mean_forward(const float* x, float* out, int64_t planes, int64_t HW);
void plane_mean_backward(const float* dout, float* dx, int64_t planes, int64_t HW);
void quantize_forward(const float* x, float* y, const QuantShape& s);
void quantize_backward(const float* x, const float* dy, float* dx, const QuantShape& s);

// pointwise.cu
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);
void add(const float* a, const float* b, float* y, int64_t n);
void sub(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void scale(const float* a, float s, float* y, int64_t n);
void fill_scaled(const float* g, float s, float* y, int64_t n);
void fill(float v, float* y, int64_t n);
void sum_squares_backward(const float* x, const float* g, int64_t n, float* dx);
void mse_backward(const float* a, const float* b, const float* g, int64_t n, float* da);
void tv_backward(const float* x, const float* g, const ImageShape& s, float* dx);
void crop_window(const float* big, const WindowShape& s, float* small);  // one launch, not a copy per row
void paste_window(const float* small, const WindowShape& s, float* big);
void axpy(int64_t n, float alpha, const float* x, float* y);
void scal(int64_t n, float alpha, float* x);

// reduce.cu: deterministic two-pass reductions (per-block partials, then one block), result on device.
void sum(const float* x, int64_t n, float* out);
void sum_squares(const float* x, int64_t n, float* out);
void mse(const float* a, const float* b, int64_t n, float* out);
void tv(const float* x, const ImageShape& s, float* out);
void dot(const float* x, const float* y, int64_t n, float* out);
void nrm2(const float* x, int64_t n, float* out);
void asum(const float* x, int64_t n, float* out);

// optim.cu: optimizer arithmetic with device scalars (contracts in registry.h, OptimVariant)
void scale_by_norm(const float* g, const float* norm_s, float strength, int64_t n, float* out);
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y);
void scal_s(int64_t n, const float* coef_s, float* x);
void scalar_mul(const float* a_s, const float* b_s, float* out_s);
void scalar_sub(const float* a_s, const float* b_s, float* out_s);
void lbfgs_pair(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s);
void lbfgs_first_step(const float* gnorm1_s, float lr, float* t_s);
void adam_step(int64_t n, float* x, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, int t);

}  // namespace nst::cuda
