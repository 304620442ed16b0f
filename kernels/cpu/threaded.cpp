// CPU variants "threaded": the reference kernels split over the pool's threads (parallel.h), for the ops
// whose work divides into independent pieces: pointwise ops by ranges of elements, pooling by (n, c)
// planes. Each piece runs the reference kernel itself, so these are the spec by construction; the tests
// still compare them with the reference on odd sizes. The losses' reductions stay single-threaded (a small
// share of an evaluation). The L-BFGS vector arithmetic (dot, nrm2, axpy, scal) is threaded: its dots are
// read by every iteration's two-loop recursion over up to 100 pairs, 3% of a stylize iteration at 256 px
// when single-threaded and scalar. Their sums use a partition fixed by n alone (chunks of kDotChunk
// elements, each in kLanes double lanes, chunk sums added in order), so the result does not depend on the
// thread count, and double accumulation keeps them at least as accurate as the reference.
#include "kernels/cpu/threaded.h"

#include <cstdint>
#include <algorithm>
#include <cmath>
#include <vector>

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

// ---- BLAS-1 and optimizer arithmetic (the L-BFGS two-loop recursion) ----
namespace {
constexpr int64_t kDotChunk = 1 << 13;
constexpr int kLanes = 16;
// x86: an AVX-512 and an AVX2 clone beside the baseline one, so that the 16 double lanes become two or four
// vector registers (not under ThreadSanitizer, whose instrumented ifunc resolvers crash; see
// conv2d_winograd.cpp).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define NST_DOT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NST_DOT_CLONES
#endif
// Σ x[i]·y[i] over one chunk: lane j takes i ≡ j (mod kLanes), then the lanes are added pairwise.
NST_DOT_CLONES double dot_chunk(const float* x, const float* y, int64_t n) {
    double lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
#pragma GCC unroll 16
        for (int j = 0; j < kLanes; ++j) lane[j] += double(x[i + j]) * double(y[i + j]);
    for (int j = 0; i < n; ++i, ++j) lane[j] += double(x[i]) * double(y[i]);
    for (int w = kLanes / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
    return lane[0];
}
double dot_fixed(const float* x, const float* y, int64_t n) {
    const int64_t chunks = (n + kDotChunk - 1) / kDotChunk;
    std::vector<double> part(size_t(std::max<int64_t>(chunks, 1)), 0.0);
    parallel_for(chunks, 2, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t b = c * kDotChunk;
            part[size_t(c)] = dot_chunk(x + b, y + b, std::min(kDotChunk, n - b));
        }
    });
    double acc = 0;
    for (double v : part) acc += v;
    return acc;
}
}  // namespace

void dot(const float* x, const float* y, int64_t n, float* out) { *out = float(dot_fixed(x, y, n)); }
void nrm2(const float* x, int64_t n, float* out) { *out = float(std::sqrt(dot_fixed(x, x, n))); }
void axpy(int64_t n, float alpha, const float* x, float* y) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::axpy<float>(e - i, alpha, x + i, y + i); });
}
void scal(int64_t n, float alpha, float* x) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::scal<float>(e - i, alpha, x + i); });
}
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::axpy_s(e - i, coef_s, mult, x + i, y + i); });
}
void scal_s(int64_t n, const float* coef_s, float* x) {
    parallel_for(n, kGrain, [&](int64_t i, int64_t e) { cpu::scal_s(e - i, coef_s, x + i); });
}

}  // namespace nst::cpu::threaded
