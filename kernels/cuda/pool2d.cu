// Max and average pooling, variant "naive": one thread per output (forward) and one thread per input
// element gathering from the windows that contain it (backward: no atomics, deterministic, correct for
// overlapping windows).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include <cstdint>

namespace nst::cuda {
namespace {

__global__ void max_pool_forward_kernel(const float* x, float* y, int32_t* argmax, PoolShape s) {
    const int P = s.P(), Q = s.Q();
    const long long total = s.y_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int q = int(i % Q), p = int((i / Q) % P);
        const long long nc = i / ((long long)P * Q);
        const float* plane = x + nc * s.H * s.W;
        int best = -1;
        float best_v = 0.f;
        for (int r = 0; r < s.R; ++r) {
            const int h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            for (int t = 0; t < s.S; ++t) {
                const int w = q * s.stride_w - s.pad_w + t;
                if (w < 0 || w >= s.W) continue;
                const float v = plane[h * s.W + w];
                if (best < 0 || v > best_v) { best = h * s.W + w; best_v = v; }  // first max wins ties
            }
        }
        y[i] = best >= 0 ? best_v : 0.f;
        if (argmax) argmax[i] = best;
    }
}

__global__ void max_pool_backward_kernel(const int32_t* argmax, const float* dy, float* dx, PoolShape s) {
    const int P = s.P(), Q = s.Q();
    const long long total = s.x_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int w = int(i % s.W), h = int((i / s.W) % s.H);
        const long long nc = i / ((long long)s.H * s.W);
        int plo, phi, qlo, qhi;
        windows_containing(h, s.R, s.stride_h, s.pad_h, P, plo, phi);
        windows_containing(w, s.S, s.stride_w, s.pad_w, Q, qlo, qhi);
        float acc = 0.f;
        for (int p = plo; p <= phi; ++p)
            for (int q = qlo; q <= qhi; ++q) {
                const long long o = (nc * P + p) * Q + q;
                if (argmax[o] == h * s.W + w) acc += dy[o];
            }
        dx[i] = acc;
    }
}

__global__ void avg_pool_forward_kernel(const float* x, float* y, PoolShape s) {
    const int P = s.P(), Q = s.Q();
    const float inv = 1.f / float(s.R * s.S);
    const long long total = s.y_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int q = int(i % Q), p = int((i / Q) % P);
        const float* plane = x + (i / ((long long)P * Q)) * s.H * s.W;
        float acc = 0.f;
        for (int r = 0; r < s.R; ++r) {
            const int h = p * s.stride_h - s.pad_h + r;
            if (h < 0 || h >= s.H) continue;
            for (int t = 0; t < s.S; ++t) {
                const int w = q * s.stride_w - s.pad_w + t;
                if (w >= 0 && w < s.W) acc += plane[h * s.W + w];
            }
        }
        y[i] = acc * inv;
    }
}

__global__ void avg_pool_backward_kernel(const float* dy, float* dx, PoolShape s) {
    const int P = s.P(), Q = s.Q();
    const float inv = 1.f / float(s.R * s.S);
    const long long total = s.x_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int w = int(i % s.W), h = int((i / s.W) % s.H);
        const long long nc = i / ((long long)s.H * s.W);
        int plo, phi, qlo, qhi;
        windows_containing(h, s.R, s.stride_h, s.pad_h, P, plo, phi);
        windows_containing(w, s.S, s.stride_w, s.pad_w, Q, qlo, qhi);
        float acc = 0.f;
        for (int p = plo; p <= phi; ++p)
            for (int q = qlo; q <= qhi; ++q) acc += dy[(nc * P + p) * Q + q];
        dx[i] = acc * inv;
    }
}

}  // namespace

void max_pool_forward_naive(const float* x, float* y, int32_t* argmax, const PoolShape& s) {
    NST_LAUNCH(max_pool_forward_kernel, grid_for(s.y_size()), 256, 0, stream())(x, y, argmax, s);
    NST_CUDA_CHECK_LAUNCH();
}
void max_pool_backward_naive(const float*, const float*, const int32_t* argmax, const float* dy, float* dx,
                             const PoolShape& s) {
    if (!argmax) throw Error("max_pool_backward_naive: needs the argmax written by its forward");
    NST_LAUNCH(max_pool_backward_kernel, grid_for(s.x_size()), 256, 0, stream())(argmax, dy, dx, s);
    NST_CUDA_CHECK_LAUNCH();
}
void avg_pool_forward_naive(const float* x, float* y, int32_t*, const PoolShape& s) {
    NST_LAUNCH(avg_pool_forward_kernel, grid_for(s.y_size()), 256, 0, stream())(x, y, s);
    NST_CUDA_CHECK_LAUNCH();
}
void avg_pool_backward_naive(const float*, const float*, const int32_t*, const float* dy, float* dx,
                             const PoolShape& s) {
    NST_LAUNCH(avg_pool_backward_kernel, grid_for(s.x_size()), 256, 0, stream())(dy, dx, s);
    NST_CUDA_CHECK_LAUNCH();
}

}  // namespace nst::cuda
