// Reductions to a scalar: sum, sum of squares, MSE, total variation, dot, norm.
// float inputs accumulate in double so that the reference is more accurate than the kernels it judges.
#include <cstdint>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"

namespace nst::cpu {

template <class T> void sum(const T* x, int64_t n, T* out) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += x[i];
    *out = T(acc);
}
template <class T> void sum_squares(const T* x, int64_t n, T* out) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * x[i];
    *out = T(acc);
}
template <class T> void mse(const T* a, const T* b, int64_t n, T* out) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = double(a[i]) - b[i];
        acc += d * d;
    }
    *out = T(acc / double(n));
}
template <class T> void tv(const T* x, const ImageShape& s, T* out) {
    double acc = 0;
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc) {
        const T* X = x + nc * s.H * s.W;
        for (int i = 0; i < s.H; ++i)
            for (int j = 0; j < s.W; ++j) {
                if (j + 1 < s.W) { const double d = double(X[i * s.W + j + 1]) - X[i * s.W + j]; acc += d * d; }
                if (i + 1 < s.H) { const double d = double(X[(i + 1) * s.W + j]) - X[i * s.W + j]; acc += d * d; }
            }
    }
    *out = T(acc);
}
template <class T> void dot(const T* x, const T* y, int64_t n, T* out) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * y[i];
    *out = T(acc);
}
template <class T> void nrm2(const T* x, int64_t n, T* out) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += double(x[i]) * x[i];
    *out = T(std::sqrt(acc));
}

#define NST_INSTANTIATE(T)                                                \
    template void sum<T>(const T*, int64_t, T*);                         \
    template void sum_squares<T>(const T*, int64_t, T*);                 \
    template void mse<T>(const T*, const T*, int64_t, T*);               \
    template void tv<T>(const T*, const ImageShape&, T*);                \
    template void dot<T>(const T*, const T*, int64_t, T*);               \
    template void nrm2<T>(const T*, int64_t, T*);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)

}  // namespace nst::cpu
