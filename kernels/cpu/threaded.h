// CPU variants "threaded" (threaded.cpp): reference kernels split over the pool's threads. Same contracts
// as the reference kernels in cpu_kernels.h, float32 only; signatures as the registry's variant tables
// want them.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cpu::threaded {

void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);
void max_pool_forward(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void max_pool_backward(const float* x, const float* y, const int32_t* argmax, const float* dy, float* dx, const PoolShape& s);
void avg_pool_forward(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void avg_pool_backward(const float* x, const float* y, const int32_t* argmax, const float* dy, float* dx, const PoolShape& s);
void add(const float* a, const float* b, float* y, int64_t n);
void sub(const float* a, const float* b, float* y, int64_t n);
void mul(const float* a, const float* b, float* y, int64_t n);
void scale(const float* a, float s, float* y, int64_t n);
void fill_scaled(const float* g, float s, float* y, int64_t n);
void fill(float v, float* y, int64_t n);
void mse_backward(const float* a, const float* b, const float* g, int64_t n, float* da);
void sum_squares_backward(const float* x, const float* g, int64_t n, float* dx);
// BLAS-1 and the optimizer's vector steps (Blas1Variant, OptimVariant in registry.h). dot and nrm2 sum in
// double over a partition fixed by n alone: the same result for any thread count.
void dot(const float* x, const float* y, int64_t n, float* out);
void nrm2(const float* x, int64_t n, float* out);
void axpy(int64_t n, float alpha, const float* x, float* y);
void scal(int64_t n, float alpha, float* x);
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y);
void scal_s(int64_t n, const float* coef_s, float* x);

}  // namespace nst::cpu::threaded
