// CPU kernels built on OpenBLAS (compiled when CMake finds it): same contracts as the reference kernels
// in cpu_kernels.h, float32 only.
#pragma once
#include "kernels/shapes.h"

namespace nst::cpu {

void conv2d_forward_gemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_gemm(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight_gemm(const float* x, const float* dy, float* dw, const ConvShape& s);

// Winograd F(2x2,3x3) for 3x3 stride-1 pad-1 convs; other shapes go to the GEMM versions above.
void conv2d_forward_winograd(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, const ConvShape& s);

void gram_forward_blas(const float* f, float* g, const GramShape& s);
void gram_backward_blas(const float* f, const float* dg, float* df, const GramShape& s);

}  // namespace nst::cpu
