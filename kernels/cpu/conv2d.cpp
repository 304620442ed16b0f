// conv2d reference kernels (cross-correlation, as every DL framework defines "convolution").
// Derivations: docs/backprop.md#conv2d.
#include "kernels/cpu/cpu_kernels.h"
#include <cstdint>

namespace nst::cpu {

template <class T> void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvShape& s) {
    const int P = s.P(), Q = s.Q();
    for (int n = 0; n < s.N; ++n)
        for (int k = 0; k < s.K; ++k)
            for (int p = 0; p < P; ++p)
                for (int q = 0; q < Q; ++q) {
                    // y[n,k,p,q] = b[k] + sum_{c,r,t} x[n,c,p*sh-ph+r, q*sw-pw+t] * w[k,c,r,t]
                    //               (then max(0, .) under s.relu)
                    T acc = b ? b[k] : T(0);
                    for (int c = 0; c < s.C; ++c)
                        for (int r = 0; r < s.R; ++r) {
                            const int h = p * s.stride_h - s.pad_h + r;
                            if (h < 0 || h >= s.H) continue;  // zero padding
                            for (int t = 0; t < s.S; ++t) {
                                const int ww = q * s.stride_w - s.pad_w + t;
                                if (ww < 0 || ww >= s.W) continue;
                                acc += x[((int64_t(n) * s.C + c) * s.H + h) * s.W + ww] *
                                       w[((int64_t(k) * s.C + c) * s.R + r) * s.S + t];
                            }
                        }
                    y[((int64_t(n) * s.K + k) * P + p) * Q + q] = conv_epilogue(acc, s);
                }
}

template <class T> void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvShape& s) {
    // Scatter form of dx[n,c,h,w] = sum_{k,p,q: h = p*sh-ph+r, w = q*sw-pw+t} dy[n,k,p,q] * w[k,c,r,t]
    const int P = s.P(), Q = s.Q();
    for (int64_t i = 0; i < s.x_size(); ++i) dx[i] = T(0);
    for (int n = 0; n < s.N; ++n)
        for (int k = 0; k < s.K; ++k)
            for (int p = 0; p < P; ++p)
                for (int q = 0; q < Q; ++q) {
                    const T g = dy[((int64_t(n) * s.K + k) * P + p) * Q + q];
                    for (int c = 0; c < s.C; ++c)
                        for (int r = 0; r < s.R; ++r) {
                            const int h = p * s.stride_h - s.pad_h + r;
                            if (h < 0 || h >= s.H) continue;
                            for (int t = 0; t < s.S; ++t) {
                                const int ww = q * s.stride_w - s.pad_w + t;
                                if (ww < 0 || ww >= s.W) continue;
                                dx[((int64_t(n) * s.C + c) * s.H + h) * s.W + ww] +=
                                    g * w[((int64_t(k) * s.C + c) * s.R + r) * s.S + t];
                            }
                        }
                }
}

template <class T> void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvShape& s) {
    // dw[k,c,r,t] = sum_{n,p,q} dy[n,k,p,q] * x[n,c,p*sh-ph+r, q*sw-pw+t]
    const int P = s.P(), Q = s.Q();
    for (int k = 0; k < s.K; ++k)
        for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r)
                for (int t = 0; t < s.S; ++t) {
                    T acc = T(0);
                    for (int n = 0; n < s.N; ++n)
                        for (int p = 0; p < P; ++p) {
                            const int h = p * s.stride_h - s.pad_h + r;
                            if (h < 0 || h >= s.H) continue;
                            for (int q = 0; q < Q; ++q) {
                                const int ww = q * s.stride_w - s.pad_w + t;
                                if (ww < 0 || ww >= s.W) continue;
                                acc += dy[((int64_t(n) * s.K + k) * P + p) * Q + q] *
                                       x[((int64_t(n) * s.C + c) * s.H + h) * s.W + ww];
                            }
                        }
                    dw[((int64_t(k) * s.C + c) * s.R + r) * s.S + t] = acc;
                }
}

template <class T> void conv2d_backward_bias(const T* dy, T* db, const ConvShape& s) {
    // db[k] = sum_{n,p,q} dy[n,k,p,q]
    const int64_t PQ = int64_t(s.P()) * s.Q();
    for (int k = 0; k < s.K; ++k) {
        T acc = T(0);
        for (int n = 0; n < s.N; ++n)
            for (int64_t i = 0; i < PQ; ++i) acc += dy[(int64_t(n) * s.K + k) * PQ + i];
        db[k] = acc;
    }
}

#define NST_INSTANTIATE(T)                                                                      \
    template void conv2d_forward<T>(const T*, const T*, const T*, T*, const ConvShape&);       \
    template void conv2d_backward_data<T>(const T*, const T*, T*, const ConvShape&);           \
    template void conv2d_backward_weight<T>(const T*, const T*, T*, const ConvShape&);         \
    template void conv2d_backward_bias<T>(const T*, T*, const ConvShape&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)

}  // namespace nst::cpu
