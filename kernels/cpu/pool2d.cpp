// Max and average pooling reference kernels. Derivations: docs/backprop.md#pooling.
#include <cstdint>
#include <limits>

#include "kernels/cpu/cpu_kernels.h"

namespace nst::cpu {

namespace {
// Index (h*W + w) of the first maximum of window (p,q) in one (H,W) plane; -1 if the window is all
// padding. Shared by forward and by the backward that recomputes winners.
template <class T> int32_t window_argmax(const T* plane, int p, int q, const PoolShape& s) {
    int32_t best = -1;
    T best_v = -std::numeric_limits<T>::infinity();
    for (int r = 0; r < s.R; ++r) {
        const int h = p * s.stride_h - s.pad_h + r;
        if (h < 0 || h >= s.H) continue;
        for (int t = 0; t < s.S; ++t) {
            const int w = q * s.stride_w - s.pad_w + t;
            if (w < 0 || w >= s.W) continue;
            const T v = plane[h * s.W + w];
            if (best < 0 || v > best_v) { best = h * s.W + w; best_v = v; }
        }
    }
    return best;
}
}  // namespace

template <class T> void max_pool_forward(const T* x, T* y, int32_t* argmax, const PoolShape& s) {
    const int P = s.P(), Q = s.Q();
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc) {
        const T* plane = x + nc * s.H * s.W;
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                const int32_t a = window_argmax(plane, p, q, s);
                const int64_t o = (nc * P + p) * Q + q;
                y[o] = a >= 0 ? plane[a] : T(0);
                if (argmax) argmax[o] = a;
            }
    }
}

template <class T>
void max_pool_backward(const T* x, const int32_t* argmax, const T* dy, T* dx, const PoolShape& s) {
    // The gradient of a max flows to the element that won it; overlapping windows accumulate.
    const int P = s.P(), Q = s.Q();
    for (int64_t i = 0; i < s.x_size(); ++i) dx[i] = T(0);
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                const int64_t o = (nc * P + p) * Q + q;
                const int32_t a = argmax ? argmax[o] : window_argmax(x + nc * s.H * s.W, p, q, s);
                if (a >= 0) dx[nc * s.H * s.W + a] += dy[o];
            }
}

template <class T> void avg_pool_forward(const T* x, T* y, const PoolShape& s) {
    const int P = s.P(), Q = s.Q();
    const T inv = T(1) / T(s.R * s.S);
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                T acc = T(0);
                for (int r = 0; r < s.R; ++r) {
                    const int h = p * s.stride_h - s.pad_h + r;
                    if (h < 0 || h >= s.H) continue;
                    for (int t = 0; t < s.S; ++t) {
                        const int w = q * s.stride_w - s.pad_w + t;
                        if (w < 0 || w >= s.W) continue;
                        acc += x[(nc * s.H + h) * s.W + w];
                    }
                }
                y[(nc * P + p) * Q + q] = acc * inv;
            }
}

template <class T> void avg_pool_backward(const T* dy, T* dx, const PoolShape& s) {
    const int P = s.P(), Q = s.Q();
    const T inv = T(1) / T(s.R * s.S);
    for (int64_t i = 0; i < s.x_size(); ++i) dx[i] = T(0);
    for (int64_t nc = 0; nc < int64_t(s.N) * s.C; ++nc)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < Q; ++q) {
                const T g = dy[(nc * P + p) * Q + q] * inv;
                for (int r = 0; r < s.R; ++r) {
                    const int h = p * s.stride_h - s.pad_h + r;
                    if (h < 0 || h >= s.H) continue;
                    for (int t = 0; t < s.S; ++t) {
                        const int w = q * s.stride_w - s.pad_w + t;
                        if (w < 0 || w >= s.W) continue;
                        dx[(nc * s.H + h) * s.W + w] += g;
                    }
                }
            }
}

#define NST_INSTANTIATE(T)                                                                         \
    template void max_pool_forward<T>(const T*, T*, int32_t*, const PoolShape&);                  \
    template void max_pool_backward<T>(const T*, const int32_t*, const T*, T*, const PoolShape&); \
    template void avg_pool_forward<T>(const T*, T*, const PoolShape&);                            \
    template void avg_pool_backward<T>(const T*, T*, const PoolShape&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)

}  // namespace nst::cpu
