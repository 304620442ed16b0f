// cuBLAS as variants of the Gram matrix (batched SGEMM) and BLAS-1: the yardstick for the project's own
// kernels. Math: full fp32 unless allow_tf32() is on. Scalar results are written to device memory.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cublas {

void gram_forward(const float* f, float* g, const GramShape& s);
void gram_backward(const float* f, const float* dg, float* df, const GramShape& s);

void dot(const float* x, const float* y, int64_t n, float* out);
void axpy(int64_t n, float alpha, const float* x, float* y);
void scal(int64_t n, float alpha, float* x);
void nrm2(const float* x, int64_t n, float* out);

}  // namespace nst::cublas
