// The fast CPU kernels built on a GEMM: same contracts as the reference kernels in cpu_kernels.h,
// float32 only. The *_gemm and winograd ones use the project's GEMM (gemm.h); the *_blas ones are the
// same code on OpenBLAS (compiled when CMake finds it), the library yardstick.
#pragma once
#include "kernels/shapes.h"
#include <cstdint>

namespace nst::cpu {

void conv2d_forward_gemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_gemm(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight_gemm(const float* x, const float* dy, float* dw, const ConvShape& s);

// Winograd F(4x4,3x3) for 3x3 stride-1 convs with pad 1, or pad 0 (computed as the pad-1 conv's interior);
// other shapes go to the direct kernel where it fits (conv2d_forward_direct), else the GEMM versions above.
bool is_3x3_valid(const ConvShape& s);
bool winograd_fits(const ConvShape& s);
// The plain entry points transform w on every call; the prepared ones take conv2d_prepare_winograd's output.
void conv2d_forward_winograd(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, const ConvShape& s);
// The prepared form: U packed for the active GEMM micro-kernel (about 36·K·C floats; the backward reads
// it transposed); 0 where Winograd does not apply. Prepare again after changing the micro-kernel (sgemm_packed checks).
int64_t conv2d_prepared_size_winograd(const ConvShape& s);
void conv2d_prepare_winograd(const float* w, float* U, const ConvShape& s);
void conv2d_forward_winograd_prepared(const float* x, const float* U, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_winograd_prepared(const float* dy, const float* U, float* dx, const ConvShape& s);
// The floats Winograd's per-block buffers may take (default 6 Mi); returns the old value. Tests lower it
// to make several tile blocks out of a small image.
int64_t set_winograd_buffer_floats(int64_t floats);

// Direct convolution (kernels/cpu/conv2d_direct.cpp): stride 1 or 2, no padding, and few input channels
// (<= 4) or few filters (<= 8), where im2col would copy R·S times the input for a GEMM too thin to pay for
// it (the 9x9 first and last convs of the style networks), or 3x3 with at most 64 channels each way (the
// 26-style network's, where Winograd's transforms cost more than they save). AVX-512 only; returns false
// (nothing done) where it does not apply, so the caller goes on to another kernel.
bool conv2d_direct_fits(const ConvShape& s);
bool conv2d_direct_takes(const ConvShape& s);  // the same on the weights' side alone (any input size)
bool conv2d_forward_direct(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
// The backward passes of the thin convs, stride 1, no padding: backward-data as the direct forward of the
// flipped, channel-swapped conv where that one is thin (few filters here: few inputs there); backward-
// weight for at most 8 filters of 3x3 or 9x9. Both return false (nothing done) where they do not apply.
bool conv2d_backward_data_direct(const float* dy, const float* w, float* dx, const ConvShape& s);
bool conv2d_backward_weight_direct(const float* x, const float* dy, float* dw, const ConvShape& s);
// The variant "direct": the direct kernels where they apply, else im2col+GEMM.
void conv2d_forward_direct_or_gemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_direct_or_gemm(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight_direct_or_gemm(const float* x, const float* dy, float* dw, const ConvShape& s);

void gram_forward_gemm(const float* f, float* g, const GramShape& s);
void gram_backward_gemm(const float* f, const float* dg, float* df, const GramShape& s);

#ifdef NST_HAVE_OPENBLAS
void conv2d_forward_blas(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_blas(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight_blas(const float* x, const float* dy, float* dw, const ConvShape& s);
void gram_forward_blas(const float* f, float* g, const GramShape& s);
void gram_backward_blas(const float* f, const float* dg, float* df, const GramShape& s);
#endif

}  // namespace nst::cpu
