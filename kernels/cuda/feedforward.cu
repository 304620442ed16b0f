// CUDA kernels of the feed-forward style networks' ops (contracts in cuda_kernels.h, the same as the CPU
// reference's in kernels/cpu/cpu_kernels.h): variant "naive", a first correct version. Instance norm:
// one block per (n, c) plane, block sums in fp32 (two passes: mean, then the centred variance); the
// parameters' gradients a second kernel, one block per parameter, so no atomics and the same sums on
// every run. Padding and resizing backward as gathers (each input element sums its own preimages).
// The ONNX graphs' per-channel affine and quantisation are elementwise; plane means one block per plane;
// the affine's parameter gradients one block per parameter, as the instance norm's.
#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/for_each.cuh"

namespace nst::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void instance_norm_forward_kernel(const float* x, const float* w, const float* b, float* y, float* mean,
                                             float* invstd, InstanceNormShape s, float eps) {
    const int64_t p = blockIdx.x;
    const float* xp = x + p * s.HW;
    float* yp = y + p * s.HW;
    __shared__ float stat;
    float acc = 0.f;
    for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) acc += xp[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) stat = acc / float(s.HW);
    __syncthreads();
    const float m = stat;
    float sq = 0.f;
    for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) sq += (xp[i] - m) * (xp[i] - m);
    sq = block_sum(sq);
    __syncthreads();  // every thread has read stat (m) before thread 0 overwrites it
    if (threadIdx.x == 0) stat = rsqrtf(sq / float(s.HW) + eps);
    __syncthreads();
    const float r = stat;
    const float scale = w ? w[s.param(p)] : 1.f, shift = b ? b[s.param(p)] : 0.f;
    for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) yp[i] = (xp[i] - m) * r * scale + shift;
    if (threadIdx.x == 0) {
        mean[p] = m;
        invstd[p] = r;
    }
}

__global__ void instance_norm_backward_data_kernel(const float* x, const float* w, const float* mean,
                                                   const float* invstd, const float* dy, float* dx,
                                                   InstanceNormShape s) {
    const int64_t p = blockIdx.x;
    const float *xp = x + p * s.HW, *gp = dy + p * s.HW;
    float* dxp = dx + p * s.HW;
    const float m = mean[p], r = invstd[p], scale = w ? w[s.param(p)] : 1.f;
    float a = 0.f, bsum = 0.f;
    for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) {
        a += gp[i];
        bsum += gp[i] * (xp[i] - m) * r;
    }
    __shared__ float sums[2];
    a = block_sum(a);
    bsum = block_sum(bsum);
    if (threadIdx.x == 0) {
        sums[0] = scale * a / float(s.HW);
        sums[1] = scale * bsum / float(s.HW);
    }
    __syncthreads();
    const float mean_g = sums[0], mean_g_xhat = sums[1];
    for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x)
        dxp[i] = r * (scale * gp[i] - mean_g - (xp[i] - m) * r * mean_g_xhat);
}

// One block per parameter k: the planes it scales (one for per-sample parameters, N for per-channel).
__global__ void instance_norm_backward_params_kernel(const float* x, const float* mean, const float* invstd,
                                                     const float* dy, float* dw, float* db, InstanceNormShape s) {
    const int64_t k = blockIdx.x;
    const int64_t count = s.per_sample ? 1 : s.N, step = s.C;  // planes k, k + C, ... (k itself when per sample)
    float a = 0.f, bsum = 0.f;
    for (int64_t j = 0; j < count; ++j) {
        const int64_t p = k + j * step;
        const float m = mean[p], r = invstd[p];
        const float *xp = x + p * s.HW, *gp = dy + p * s.HW;
        for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) {
            a += gp[i];
            bsum += gp[i] * (xp[i] - m) * r;
        }
    }
    a = block_sum(a);
    bsum = block_sum(bsum);
    if (threadIdx.x == 0) {
        if (dw) dw[k] = bsum;
        if (db) db[k] = a;
    }
}

struct MixRowsF {
    const float *alpha, *rows; float* out; int64_t S, C;
    __device__ void operator()(long long i) const {
        const int64_t n = i / C, c = i % C;
        float acc = 0.f;
        for (int64_t k = 0; k < S; ++k) acc += alpha[n * S + k] * rows[k * C + c];
        out[i] = acc;
    }
};
struct MixRowsBackF {
    const float *alpha, *dout; float* drows; int64_t N, S, C;
    __device__ void operator()(long long i) const {
        const int64_t k = i / C, c = i % C;
        float acc = 0.f;
        for (int64_t n = 0; n < N; ++n) acc += alpha[n * S + k] * dout[n * C + c];
        drows[i] = acc;
    }
};
struct PadF {
    const float* x; float* y; PadShape s;
    __device__ void operator()(long long i) const {
        const int64_t j = i % s.Wo(), r = (i / s.Wo()) % s.Ho(), p = i / (s.Wo() * s.Ho());
        y[i] = x[(p * s.H + PadShape::reflect(r - s.top, s.H)) * s.W + PadShape::reflect(j - s.left, s.W)];
    }
};
struct PadBackF {
    const float* dy; float* dx; PadShape s;
    __device__ void operator()(long long i) const {
        const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
        int64_t rows[3], cols[3];
        const int nr = PadShape::preimages(h, s.H, s.top, s.bottom, rows);
        const int nc = PadShape::preimages(w, s.W, s.left, s.right, cols);
        float acc = 0.f;
        for (int a = 0; a < nr; ++a)
            for (int b = 0; b < nc; ++b) acc += dy[(p * s.Ho() + rows[a]) * s.Wo() + cols[b]];
        dx[i] = acc;
    }
};
struct ResizeF {
    const float* x; float* y; ResizeShape s;
    __device__ void operator()(long long i) const {
        const int64_t j = i % s.Wo, r = (i / s.Wo) % s.Ho, p = i / (s.Wo * s.Ho);
        y[i] = x[(p * s.H + s.src_row(r)) * s.W + s.src_col(j)];
    }
};
struct ResizeBackF {
    const float* dy; float* dx; ResizeShape s;
    __device__ void operator()(long long i) const {
        const int64_t w = i % s.W, h = (i / s.W) % s.H, p = i / (s.W * s.H);
        float acc = 0.f;
        for (int64_t r = s.rows_from(h); r < s.rows_from(h + 1); ++r)
            for (int64_t c = s.cols_from(w); c < s.cols_from(w + 1); ++c) acc += dy[(p * s.Ho + r) * s.Wo + c];
        dx[i] = acc;
    }
};
struct SigmoidF { const float* x; float* y; __device__ void operator()(long long i) const { y[i] = 1.f / (1.f + expf(-x[i])); } };
struct SigmoidBackF {
    const float *y, *dy; float* dx;
    __device__ void operator()(long long i) const { dx[i] = dy[i] * y[i] * (1.f - y[i]); }
};

struct ChannelAffineF {
    const float *x, *a, *b; float* y; InstanceNormShape s;
    __device__ void operator()(long long i) const {
        const int64_t k = s.param(i / s.HW);
        y[i] = x[i] * (a ? a[k] : 1.f) + (b ? b[k] : 0.f);
    }
};
struct ChannelAffineBackF {
    const float *a, *dy; float* dx; InstanceNormShape s;
    __device__ void operator()(long long i) const { dx[i] = dy[i] * (a ? a[s.param(i / s.HW)] : 1.f); }
};

// One block per parameter k: Σ dy·x and Σ dy over the planes it scales.
__global__ void channel_affine_params_kernel(const float* x, const float* dy, float* da, float* db, InstanceNormShape s) {
    const int64_t k = blockIdx.x;
    const int64_t count = s.per_sample ? 1 : s.N, step = s.C;
    float sa = 0.f, sb = 0.f;
    for (int64_t j = 0; j < count; ++j) {
        const int64_t p = k + j * step;
        const float *xp = x + p * s.HW, *gp = dy + p * s.HW;
        for (int64_t i = threadIdx.x; i < s.HW; i += blockDim.x) {
            sa += gp[i] * xp[i];
            sb += gp[i];
        }
    }
    sa = block_sum(sa);
    sb = block_sum(sb);
    if (threadIdx.x == 0) {
        if (da) da[k] = sa;
        if (db) db[k] = sb;
    }
}

__global__ void plane_mean_kernel(const float* x, float* out, int64_t HW) {
    const int64_t p = blockIdx.x;
    float acc = 0.f;
    for (int64_t i = threadIdx.x; i < HW; i += blockDim.x) acc += x[p * HW + i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[p] = acc / float(HW);
}
struct PlaneMeanBackF {
    const float* dout; float* dx; int64_t HW;
    __device__ void operator()(long long i) const { dx[i] = dout[i / HW] / float(HW); }
};
struct QuantizeF {
    const float* x; float* y; QuantShape s;
    __device__ void operator()(long long i) const {
        const float v = rintf(x[i] / s.scale) + s.zero_point;  // rintf: half to even, as std::nearbyint
        y[i] = fminf(s.qmax, fmaxf(s.qmin, v));
    }
};
struct QuantizeBackF {
    const float *x, *dy; float* dx; QuantShape s;
    __device__ void operator()(long long i) const { dx[i] = s.passes(x[i]) ? dy[i] / s.scale : 0.f; }
};

}  // namespace

void instance_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* invstd,
                           const InstanceNormShape& s, double eps) {
    if (s.planes() <= 0 || s.HW <= 0) return;
    NST_LAUNCH(instance_norm_forward_kernel, unsigned(s.planes()), kThreads, 0, stream())(x, w, b, y, mean, invstd, s,
                                                                                          float(eps));
    NST_CUDA_CHECK_LAUNCH();
}

void instance_norm_backward(const float* x, const float* w, const float* mean, const float* invstd, const float* dy,
                            float* dx, float* dw, float* db, const InstanceNormShape& s) {
    if (s.planes() <= 0 || s.HW <= 0) return;
    NST_LAUNCH(instance_norm_backward_data_kernel, unsigned(s.planes()), kThreads, 0, stream())(x, w, mean, invstd, dy,
                                                                                               dx, s);
    NST_CUDA_CHECK_LAUNCH();
    if (!dw && !db) return;
    const int64_t params = s.per_sample ? s.planes() : s.C;
    NST_LAUNCH(instance_norm_backward_params_kernel, unsigned(params), kThreads, 0, stream())(x, mean, invstd, dy, dw,
                                                                                             db, s);
    NST_CUDA_CHECK_LAUNCH();
}

void mix_rows(const float* alpha, const float* rows, float* out, int64_t N, int64_t S, int64_t C) {
    for_each(N * C, MixRowsF{alpha, rows, out, S, C});
}
void mix_rows_backward(const float* alpha, const float* dout, float* drows, int64_t N, int64_t S, int64_t C) {
    for_each(S * C, MixRowsBackF{alpha, dout, drows, N, S, C});
}
void reflection_pad_forward(const float* x, float* y, const PadShape& s) { for_each(s.planes * s.Ho() * s.Wo(), PadF{x, y, s}); }
void reflection_pad_backward(const float* dy, float* dx, const PadShape& s) {
    for_each(s.planes * s.H * s.W, PadBackF{dy, dx, s});
}
void resize_nearest_forward(const float* x, float* y, const ResizeShape& s) { for_each(s.planes * s.Ho * s.Wo, ResizeF{x, y, s}); }
void resize_nearest_backward(const float* dy, float* dx, const ResizeShape& s) {
    for_each(s.planes * s.H * s.W, ResizeBackF{dy, dx, s});
}
void sigmoid_forward(const float* x, float* y, int64_t n) { for_each(n, SigmoidF{x, y}); }
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n) { for_each(n, SigmoidBackF{y, dy, dx}); }

void channel_affine_forward(const float* x, const float* a, const float* b, float* y, const InstanceNormShape& s) {
    for_each(s.planes() * s.HW, ChannelAffineF{x, a, b, y, s});
}
void channel_affine_backward(const float* x, const float* a, const float* dy, float* dx, float* da, float* db,
                             const InstanceNormShape& s) {
    if (dx) for_each(s.planes() * s.HW, ChannelAffineBackF{a, dy, dx, s});
    if ((!da && !db) || s.planes() <= 0 || s.HW <= 0) return;
    const int64_t params = s.per_sample ? s.planes() : s.C;
    NST_LAUNCH(channel_affine_params_kernel, unsigned(params), kThreads, 0, stream())(x, dy, da, db, s);
    NST_CUDA_CHECK_LAUNCH();
}
void plane_mean_forward(const float* x, float* out, int64_t planes, int64_t HW) {
    if (planes <= 0 || HW <= 0) return;
    NST_LAUNCH(plane_mean_kernel, unsigned(planes), kThreads, 0, stream())(x, out, HW);
    NST_CUDA_CHECK_LAUNCH();
}
void plane_mean_backward(const float* dout, float* dx, int64_t planes, int64_t HW) {
    for_each(planes * HW, PlaneMeanBackF{dout, dx, HW});
}
void quantize_forward(const float* x, float* y, const QuantShape& s) { for_each(s.n, QuantizeF{x, y, s}); }
void quantize_backward(const float* x, const float* dy, float* dx, const QuantShape& s) {
    for_each(s.n, QuantizeBackF{x, dy, dx, s});
}

}  // namespace nst::cuda
