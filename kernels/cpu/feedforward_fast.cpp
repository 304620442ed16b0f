// CPU variant "fast" of the feed-forward networks' ops (contracts in cpu_kernels.h, where the reference
// loops are the spec): the same arithmetic split over the pool's threads and written so that the
// compiler vectorises it.
//  - instance norm: planes in parallel; each plane's sums in 16 float lanes flushed into double every
//    1024 elements (the reference sums in double: the two agree to ~1e-7 relative), two passes as the
//    reference (mean, then squared deviations), then y = (x − mean)·a + shift with a = invstd·scale.
//    The backward splits planes too where no two planes share a parameter (N = 1, or per-sample
//    parameters); otherwise it runs the reference (its dw, db sums run across samples).
//  - reflection pad: rows in parallel, the middle of each row one memcpy.
//  - nearest resize: rows in parallel; an output row equal to the one before is copied; x2 columns
//    written in pairs.
//  - sigmoid and the backward gathers: element or plane ranges in parallel, each running the reference.
//  - the ONNX graphs' per-channel affine, plane means and quantisation: planes or element ranges in
//    parallel, each running the reference (the affine's backward as the instance norm's: split only where
//    no two planes share a parameter); plane means in float lanes as the instance norm's.
#include "kernels/cpu/feedforward_fast.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel.h"

namespace nst::cpu::fast {

namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per chunk, at least

// Σ f(x[i]) for i < n in double, via 16 float lanes flushed every 1024 elements.
template <class F> double lane_sum(const float* x, int64_t n, F f) {
    double total = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        const int64_t i1 = std::min(n, i0 + 1024);
        float acc[16] = {};
        int64_t i = i0;
        for (; i + 16 <= i1; i += 16)
            for (int j = 0; j < 16; ++j) acc[j] += f(x[i + j]);
        for (; i < i1; ++i) acc[0] += f(x[i]);
        for (float a : acc) total += double(a);
    }
    return total;
}

}  // namespace

void instance_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* invstd,
                           const InstanceNormShape& s, double eps) {
    const int64_t HW = s.HW;
    parallel_for(s.planes(), std::max<int64_t>(1, kGrain / std::max<int64_t>(HW, 1)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* xp = x + p * HW;
            float* yp = y + p * HW;
            const double m = lane_sum(xp, HW, [](float v) { return v; }) / double(HW);
            const float mf = float(m);
            const double v = lane_sum(xp, HW, [mf](float t) { return (t - mf) * (t - mf); }) / double(HW);
            const double r = 1.0 / std::sqrt(v + eps);
            const double scale = w ? double(w[s.param(p)]) : 1.0, shift = b ? double(b[s.param(p)]) : 0.0;
            // (x − mean)·a + shift, not x·a + (shift − mean·a): a plane of one value (x = mean) must give
            // exactly shift, as the reference does, and the deviations keep their precision.
            const float a = float(r * scale), c = float(shift);
            for (int64_t i = 0; i < HW; ++i) yp[i] = (xp[i] - mf) * a + c;
            mean[p] = float(m);
            invstd[p] = float(r);
        }
    });
}

void instance_norm_backward(const float* x, const float* w, const float* mean, const float* invstd, const float* dy, float* dx,
                            float* dw, float* db, const InstanceNormShape& s) {
    if (!(s.N == 1 || s.per_sample)) return cpu::instance_norm_backward<float>(x, w, mean, invstd, dy, dx, dw, db, s);
    // Every plane has its own parameter: planes [p0, p1) are the shape {N = 1, C = p1 − p0} with their
    // parameters' pointers moved along.
    parallel_for(s.planes(), std::max<int64_t>(1, kGrain / std::max<int64_t>(s.HW, 1)), [&](int64_t p0, int64_t p1) {
        InstanceNormShape t{1, p1 - p0, s.HW, false};
        const int64_t off = p0 * s.HW;
        cpu::instance_norm_backward<float>(x + off, w ? w + p0 : nullptr, mean + p0, invstd + p0, dy + off, dx + off,
                                           dw ? dw + p0 : nullptr, db ? db + p0 : nullptr, t);
    });
}

void reflection_pad_forward(const float* x, float* y, const PadShape& s) {
    const int64_t Ho = s.Ho(), Wo = s.Wo();
    parallel_for(s.planes * Ho, std::max<int64_t>(1, kGrain / std::max<int64_t>(Wo, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t p = row / Ho, i = row % Ho;
            const float* src = x + (p * s.H + PadShape::reflect(i - s.top, s.H)) * s.W;
            float* dst = y + row * Wo;
            for (int j = 0; j < s.left; ++j) dst[j] = src[PadShape::reflect(j - s.left, s.W)];
            std::memcpy(dst + s.left, src, sizeof(float) * size_t(s.W));
            for (int j = 0; j < s.right; ++j) dst[s.left + s.W + j] = src[PadShape::reflect(s.W + j, s.W)];
        }
    });
}

void reflection_pad_backward(const float* dy, float* dx, const PadShape& s) {
    parallel_for(s.planes, 1, [&](int64_t p0, int64_t p1) {
        PadShape t = s;
        t.planes = p1 - p0;
        cpu::reflection_pad_backward<float>(dy + p0 * s.Ho() * s.Wo(), dx + p0 * s.H * s.W, t);
    });
}

void resize_nearest_forward(const float* x, float* y, const ResizeShape& s) {
    const bool twice = s.Wo == 2 * s.W;
    parallel_for(s.planes * s.Ho, std::max<int64_t>(1, kGrain / std::max<int64_t>(s.Wo, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t p = row / s.Ho, i = row % s.Ho;
            float* dst = y + row * s.Wo;
            if (row > r0 && i > 0 && s.src_row(i) == s.src_row(i - 1)) {  // the row above, already written here
                std::memcpy(dst, dst - s.Wo, sizeof(float) * size_t(s.Wo));
                continue;
            }
            const float* src = x + (p * s.H + s.src_row(i)) * s.W;
            if (twice) {
                for (int64_t j = 0; j < s.W; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
            } else {
                for (int64_t j = 0; j < s.Wo; ++j) dst[j] = src[s.src_col(j)];
            }
        }
    });
}

void resize_nearest_backward(const float* dy, float* dx, const ResizeShape& s) {
    parallel_for(s.planes, 1, [&](int64_t p0, int64_t p1) {
        ResizeShape t = s;
        t.planes = p1 - p0;
        cpu::resize_nearest_backward<float>(dy + p0 * s.Ho * s.Wo, dx + p0 * s.H * s.W, t);
    });
}

void sigmoid_forward(const float* x, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { cpu::sigmoid_forward<float>(x + b, y + b, e - b); });
}

void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { cpu::sigmoid_backward<float>(y + b, dy + b, dx + b, e - b); });
}

void channel_affine_forward(const float* x, const float* a, const float* b, float* y, const InstanceNormShape& s) {
    parallel_for(s.planes(), std::max<int64_t>(1, kGrain / std::max<int64_t>(s.HW, 1)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float scale = a ? a[s.param(p)] : 1.f, shift = b ? b[s.param(p)] : 0.f;
            const float* xp = x + p * s.HW;
            float* yp = y + p * s.HW;
            for (int64_t i = 0; i < s.HW; ++i) yp[i] = xp[i] * scale + shift;
        }
    });
}

void channel_affine_backward(const float* x, const float* a, const float* dy, float* dx, float* da, float* db,
                             const InstanceNormShape& s) {
    if (!(s.N == 1 || s.per_sample)) return cpu::channel_affine_backward<float>(x, a, dy, dx, da, db, s);
    parallel_for(s.planes(), std::max<int64_t>(1, kGrain / std::max<int64_t>(s.HW, 1)), [&](int64_t p0, int64_t p1) {
        InstanceNormShape t{1, p1 - p0, s.HW, false};
        const int64_t off = p0 * s.HW;
        cpu::channel_affine_backward<float>(x + off, a ? a + p0 : nullptr, dy + off, dx ? dx + off : nullptr,
                                            da ? da + p0 : nullptr, db ? db + p0 : nullptr, t);
    });
}

void plane_mean_forward(const float* x, float* out, int64_t planes, int64_t HW) {
    parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(HW, 1)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) out[p] = float(lane_sum(x + p * HW, HW, [](float v) { return v; }) / double(HW));
    });
}

void plane_mean_backward(const float* dout, float* dx, int64_t planes, int64_t HW) {
    parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(HW, 1)), [&](int64_t p0, int64_t p1) {
        cpu::plane_mean_backward<float>(dout + p0, dx + p0 * HW, p1 - p0, HW);
    });
}

void quantize_forward(const float* x, float* y, const QuantShape& s) {
    parallel_for(s.n, kGrain, [&](int64_t b, int64_t e) {
        QuantShape t = s;
        t.n = e - b;
        cpu::quantize_forward<float>(x + b, y + b, t);
    });
}

void quantize_backward(const float* x, const float* dy, float* dx, const QuantShape& s) {
    parallel_for(s.n, kGrain, [&](int64_t b, int64_t e) {
        QuantShape t = s;
        t.n = e - b;
        cpu::quantize_backward<float>(x + b, dy + b, dx + b, t);
    });
}

}  // namespace nst::cpu::fast
