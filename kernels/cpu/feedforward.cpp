// CPU reference kernels of the feed-forward style networks' ops (contracts in cpu_kernels.h; the
// instance-norm backward is derived in docs/backprop.md): plain loops, float and double.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/cpu_kernels.h"

namespace nst::cpu {

template <class T>
void instance_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* invstd, const InstanceNormShape& s,
                           double eps) {
    for (int64_t p = 0; p < s.planes(); ++p) {
        const T* xp = x + p * s.HW;
        T* yp = y + p * s.HW;
        double m = 0;
        for (int64_t i = 0; i < s.HW; ++i) m += double(xp[i]);
        m /= double(s.HW);
        double v = 0;  // two passes: the variance of values far from 0 stays exact
        for (int64_t i = 0; i < s.HW; ++i) v += (double(xp[i]) - m) * (double(xp[i]) - m);
        v /= double(s.HW);
        const double r = 1.0 / std::sqrt(v + eps);
        const double scale = w ? double(w[s.param(p)]) : 1.0, shift = b ? double(b[s.param(p)]) : 0.0;
        for (int64_t i = 0; i < s.HW; ++i) yp[i] = T((double(xp[i]) - m) * r * scale + shift);
        mean[p] = T(m);
        invstd[p] = T(r);
    }
}

template <class T>
void instance_norm_backward(const T* x, const T* w, const T* mean, const T* invstd, const T* dy, T* dx, T* dw, T* db,
                            const InstanceNormShape& s) {
    const int64_t params = s.per_sample ? s.planes() : s.C;
    for (int64_t k = 0; k < params; ++k) {
        if (dw) dw[k] = T(0);
        if (db) db[k] = T(0);
    }
    for (int64_t p = 0; p < s.planes(); ++p) {
        const T *xp = x + p * s.HW, *gp = dy + p * s.HW;
        T* dxp = dx + p * s.HW;
        const double m = double(mean[p]), r = double(invstd[p]), scale = w ? double(w[s.param(p)]) : 1.0;
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int64_t i = 0; i < s.HW; ++i) {
            sum_dy += double(gp[i]);
            sum_dy_xhat += double(gp[i]) * (double(xp[i]) - m) * r;
        }
        const double mean_g = scale * sum_dy / double(s.HW), mean_g_xhat = scale * sum_dy_xhat / double(s.HW);
        for (int64_t i = 0; i < s.HW; ++i) {
            const double xhat = (double(xp[i]) - m) * r;
            dxp[i] = T(r * (scale * double(gp[i]) - mean_g - xhat * mean_g_xhat));
        }
        if (dw) dw[s.param(p)] += T(sum_dy_xhat);
        if (db) db[s.param(p)] += T(sum_dy);
    }
}

template <class T> void mix_rows(const T* alpha, const T* rows, T* out, int64_t N, int64_t S, int64_t C) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            double acc = 0;
            for (int64_t k = 0; k < S; ++k) acc += double(alpha[n * S + k]) * double(rows[k * C + c]);
            out[n * C + c] = T(acc);
        }
}

template <class T> void mix_rows_backward(const T* alpha, const T* dout, T* drows, int64_t N, int64_t S, int64_t C) {
    for (int64_t k = 0; k < S; ++k)
        for (int64_t c = 0; c < C; ++c) {
            double acc = 0;
            for (int64_t n = 0; n < N; ++n) acc += double(alpha[n * S + k]) * double(dout[n * C + c]);
            drows[k * C + c] = T(acc);
        }
}

template <class T> void reflection_pad_forward(const T* x, T* y, const PadShape& s) {
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.Ho(); ++i)
            for (int64_t j = 0; j < s.Wo(); ++j)
                y[(p * s.Ho() + i) * s.Wo() + j] =
                    x[(p * s.H + PadShape::reflect(i - s.top, s.H)) * s.W + PadShape::reflect(j - s.left, s.W)];
}

template <class T> void reflection_pad_backward(const T* dy, T* dx, const PadShape& s) {
    for (int64_t i = 0; i < s.planes * s.H * s.W; ++i) dx[i] = T(0);
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.Ho(); ++i)
            for (int64_t j = 0; j < s.Wo(); ++j)
                dx[(p * s.H + PadShape::reflect(i - s.top, s.H)) * s.W + PadShape::reflect(j - s.left, s.W)] +=
                    dy[(p * s.Ho() + i) * s.Wo() + j];
}

template <class T> void resize_nearest_forward(const T* x, T* y, const ResizeShape& s) {
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.Ho; ++i)
            for (int64_t j = 0; j < s.Wo; ++j)
                y[(p * s.Ho + i) * s.Wo + j] = x[(p * s.H + s.src_row(i)) * s.W + s.src_col(j)];
}

template <class T> void resize_nearest_backward(const T* dy, T* dx, const ResizeShape& s) {
    for (int64_t i = 0; i < s.planes * s.H * s.W; ++i) dx[i] = T(0);
    for (int64_t p = 0; p < s.planes; ++p)
        for (int64_t i = 0; i < s.Ho; ++i)
            for (int64_t j = 0; j < s.Wo; ++j)
                dx[(p * s.H + s.src_row(i)) * s.W + s.src_col(j)] += dy[(p * s.Ho + i) * s.Wo + j];
}

template <class T> void sigmoid_forward(const T* x, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = T(1) / (T(1) + std::exp(-x[i]));
}

template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

template <class T> void channel_affine_forward(const T* x, const T* a, const T* b, T* y, const InstanceNormShape& s) {
    for (int64_t p = 0; p < s.planes(); ++p) {
        const T scale = a ? a[s.param(p)] : T(1), shift = b ? b[s.param(p)] : T(0);
        for (int64_t i = 0; i < s.HW; ++i) y[p * s.HW + i] = x[p * s.HW + i] * scale + shift;
    }
}

template <class T>
void channel_affine_backward(const T* x, const T* a, const T* dy, T* dx, T* da, T* db, const InstanceNormShape& s) {
    const int64_t params = s.per_sample ? s.planes() : s.C;
    for (int64_t k = 0; k < params; ++k) {
        if (da) da[k] = T(0);
        if (db) db[k] = T(0);
    }
    for (int64_t p = 0; p < s.planes(); ++p) {
        const int64_t k = s.param(p);
        double sa = 0, sb = 0;
        for (int64_t i = 0; i < s.HW; ++i) {
            const T g = dy[p * s.HW + i];
            if (dx) dx[p * s.HW + i] = g * (a ? a[k] : T(1));
            sa += double(g) * double(x[p * s.HW + i]);
            sb += double(g);
        }
        if (da) da[k] += T(sa);
        if (db) db[k] += T(sb);
    }
}

template <class T> void plane_mean_forward(const T* x, T* out, int64_t planes, int64_t HW) {
    for (int64_t p = 0; p < planes; ++p) {
        double acc = 0;
        for (int64_t i = 0; i < HW; ++i) acc += double(x[p * HW + i]);
        out[p] = T(acc / double(HW));
    }
}

template <class T> void plane_mean_backward(const T* dout, T* dx, int64_t planes, int64_t HW) {
    for (int64_t p = 0; p < planes; ++p)
        for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] = dout[p] / T(HW);
}

template <class T> void quantize_forward(const T* x, T* y, const QuantShape& s) {
    for (int64_t i = 0; i < s.n; ++i) {
        const T v = std::nearbyint(x[i] / T(s.scale)) + T(s.zero_point);  // the default rounding: half to even
        y[i] = std::min(T(s.qmax), std::max(T(s.qmin), v));
    }
}

template <class T> void quantize_backward(const T* x, const T* dy, T* dx, const QuantShape& s) {
    for (int64_t i = 0; i < s.n; ++i) {
        const T v = x[i] / T(s.scale) + T(s.zero_point);
        dx[i] = v >= T(s.qmin) - T(0.5) && v <= T(s.qmax) + T(0.5) ? dy[i] / T(s.scale) : T(0);
    }
}

#define NST_INSTANTIATE(T)                                                                                           \
    template void instance_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, const InstanceNormShape&, double); \
    template void instance_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,            \
                                            const InstanceNormShape&);                                              \
    template void mix_rows<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);                                    \
    template void mix_rows_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);                           \
    template void reflection_pad_forward<T>(const T*, T*, const PadShape&);                                          \
    template void reflection_pad_backward<T>(const T*, T*, const PadShape&);                                         \
    template void resize_nearest_forward<T>(const T*, T*, const ResizeShape&);                                       \
    template void resize_nearest_backward<T>(const T*, T*, const ResizeShape&);                                      \
    template void sigmoid_forward<T>(const T*, T*, int64_t);                                                          \
    template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);                                               \
    template void channel_affine_forward<T>(const T*, const T*, const T*, T*, const InstanceNormShape&);             \
    template void channel_affine_backward<T>(const T*, const T*, const T*, T*, T*, T*, const InstanceNormShape&);    \
    template void plane_mean_forward<T>(const T*, T*, int64_t, int64_t);                                              \
    template void plane_mean_backward<T>(const T*, T*, int64_t, int64_t);                                             \
    template void quantize_forward<T>(const T*, T*, const QuantShape&);                                               \
    template void quantize_backward<T>(const T*, const T*, T*, const QuantShape&);
NST_INSTANTIATE(float)
NST_INSTANTIATE(double)

}  // namespace nst::cpu
