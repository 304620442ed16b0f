// CPU variants "threaded": the reference kernels split over the pool's threads (parallel.h), for the ops
// whose work divides into independent pieces: pointwise ops by ranges of elements, pooling by (n, c)
// planes. Each piece runs the reference kernel itself, so these are the spec by construction; the tests
// still compare them with the reference on odd sizes. Reductions stay single-threaded (their order of
// summation is part of what the reference defines, and they are a small share of an evaluation).
#include "kernels/cpu/threaded.h"

#include <cstdint>
#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel.h"

namespace nst::cpu::threaded {

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements: below this a second thread costs more than it saves

// The same pool on planes [p0, p1) of x and y: a shape with N = 1 and C = the plane count.
PoolShape planes(const PoolShape& s, int64_t p0, int64_t p1) {
    PoolShape t = s;
    t.N = 1;
    t.C = int(p1 - p0);
    return t;
}
int64_t plane_grain(const PoolShape& s) { return std::max<int64_t>(1, kGrain / (int64_t(s.H) * s.W)); }
}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { cpu::relu_forward<float>(x + b, y + b, e - b); });
}
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { cpu::relu_backward<float>(y + b, dy + b, dx + b, e - b); });
}

void max_pool_forward(const float* x, float* y, int32_t* argmax, const PoolShape& s) {
    const int64_t in = int64_t(s.H) * s.W, out = int64_t(s.P()) * s.Q();
    parallel_for(int64_t(s.N) * s.C, plane_grain(s), [&](int64_t p0, int64_t p1) {
        cpu::max_pool_forward<float>(x + p0 * in, y + p0 * out, argmax ? argmax + p0 * out : nullptr, planes(s, p0, p1));
    });
}
void max_pool_backward(const float* x, const float*, const int32_t* argmax, const float* dy, float* dx,
                       const PoolShape& s) {
    const int64_t in = int64_t(s.H) * s.W, out = int64_t(s.P()) * s.Q();
    parallel_for(int64_t(s.N) * s.C, plane_grain(s), [&](int64_t p0, int64_t p1) {
        cpu::max_pool_backward<float>(x + p0 * in, argmax ? argmax + p0 * out : nullptr, dy + p0 * out, dx + p0 * in,
                                      planes(s, p0, p1));
    });
}
void avg_pool_forward(const float* x, float* y, int32_t*, const PoolShape& s) {
    const int64_t in = int64_t(s.H) * s.W, out = int64_t(s.P()) * s.Q();
    parallel_for(int64_t(s.N) * s.C, plane_grain(s), [&](int64_t p0, int64_t p1) {
        cpu::avg_pool_forward<float>(x + p0 * in, y + p0 * out, planes(s, p0, p1));
    });
}
void avg_pool_backward(const float*, const float*, const int32_t*, const float* dy, float* dx, const PoolShape& s) {
    const int64_t in = int64_t(s.H) * s.W, out = int64_t(s.P()) * s.Q();
    parallel_for(int64_t(s.N) * s.C, plane_grain(s), [&](int64_t p0, int64_t p1) {
        cpu::avg_pool_backward<float>(dy + p0 * out, dx + p0 * in, planes(s, p0, p1));
    });
}

void add(const float* a, const float* b, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::add<float>(a + i, b + i, y + i, e - i); });
}
void sub(const float* a, const float* b, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::sub<float>(a + i, b + i, y + i, e - i); });
}
void mul(const float* a, const float* b, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::mul<float>(a + i, b + i, y + i, e - i); });
}
void scale(const float* a, float s, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::scale<float>(a + i, s, y + i, e - i); });
}
void fill_scaled(const float* g, float s, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::fill_scaled<float>(g, s, y + i, e - i); });
}
void fill(float v, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::fill<float>(v, y + i, e - i); });
}
void mse_backward(const float* a, const float* b, const float* g, int64_t n, float* da) {
    // Not the reference per piece: its coefficient 2g/n must use the whole tensor's n.
    const float c = 2.f * *g / float(n);
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) {
        for (int64_t j = i; j < e; ++j) da[j] = c * (a[j] - b[j]);
    });
}
void sum_squares_backward(const float* x, const float* g, int64_t n, float* dx) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::sum_squares_backward<float>(x + i, g, e - i, dx + i); });
}

}  // namespace nst::cpu::threaded
