// conv2d, variant "naive": direct convolution, one thread per output element (forward), per input
// element (backward-data, gather form: no atomics, deterministic), one block per weight element
// (backward-weight) or per output channel (backward-bias). Readable first; the ladder comes later.
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace nst::cuda {
namespace {

__global__ void conv2d_forward_kernel(const float* x, const float* w, const float* b, float* y, ConvShape s) {
    const int P = s.P(), Q = s.Q();
    const long long total = s.y_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        // i indexes y (N,K,P,Q)
        const int q = int(i % Q), p = int((i / Q) % P), k = int((i / ((long long)P * Q)) % s.K);
        const int n = int(i / ((long long)P * Q * s.K));
        float acc = b ? b[k] : 0.f;
        for (int c = 0; c < s.C; ++c) {
            const float* xc = x + ((long long)n * s.C + c) * s.H * s.W;
            const float* wc = w + ((long long)k * s.C + c) * s.R * s.S;
            for (int r = 0; r < s.R; ++r) {
                const int h = p * s.stride_h - s.pad_h + r;
                if (h < 0 || h >= s.H) continue;
                for (int t = 0; t < s.S; ++t) {
                    const int ww = q * s.stride_w - s.pad_w + t;
                    if (ww < 0 || ww >= s.W) continue;
                    acc += xc[h * s.W + ww] * wc[r * s.S + t];
                }
            }
        }
        y[i] = conv_epilogue(acc, s);
    }
}

__global__ void conv2d_backward_data_kernel(const float* dy, const float* w, float* dx, ConvShape s) {
    const int P = s.P(), Q = s.Q();
    const long long total = s.x_size();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        // i indexes dx (N,C,H,W); gather every (k,p,q,r,t) with p*sh-ph+r == h and q*sw-pw+t == w
        const int wx = int(i % s.W), h = int((i / s.W) % s.H), c = int((i / ((long long)s.H * s.W)) % s.C);
        const int n = int(i / ((long long)s.H * s.W * s.C));
        float acc = 0.f;
        for (int r = 0; r < s.R; ++r) {
            const int hp = h + s.pad_h - r;
            if (hp < 0 || hp % s.stride_h) continue;
            const int p = hp / s.stride_h;
            if (p >= P) continue;
            for (int t = 0; t < s.S; ++t) {
                const int wp = wx + s.pad_w - t;
                if (wp < 0 || wp % s.stride_w) continue;
                const int q = wp / s.stride_w;
                if (q >= Q) continue;
                for (int k = 0; k < s.K; ++k)
                    acc += dy[(((long long)n * s.K + k) * P + p) * Q + q] *
                           w[(((long long)k * s.C + c) * s.R + r) * s.S + t];
            }
        }
        dx[i] = acc;
    }
}

__global__ void conv2d_backward_weight_kernel(const float* x, const float* dy, float* dw, ConvShape s) {
    // block b computes dw[b] = dw[k,c,r,t], its threads striding over (n,p,q)
    const int P = s.P(), Q = s.Q();
    const int t = blockIdx.x % s.S, r = (blockIdx.x / s.S) % s.R, c = (blockIdx.x / (s.S * s.R)) % s.C;
    const int k = blockIdx.x / (s.S * s.R * s.C);
    const long long total = (long long)s.N * P * Q;
    float acc = 0.f;
    for (long long j = threadIdx.x; j < total; j += blockDim.x) {
        const int q = int(j % Q), p = int((j / Q) % P), n = int(j / ((long long)P * Q));
        const int h = p * s.stride_h - s.pad_h + r, ww = q * s.stride_w - s.pad_w + t;
        if (h < 0 || h >= s.H || ww < 0 || ww >= s.W) continue;
        acc += dy[(((long long)n * s.K + k) * P + p) * Q + q] * x[(((long long)n * s.C + c) * s.H + h) * s.W + ww];
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) dw[blockIdx.x] = acc;
}

__global__ void conv2d_backward_bias_kernel(const float* dy, float* db, ConvShape s) {
    const int k = blockIdx.x;
    const long long PQ = (long long)s.P() * s.Q();
    float acc = 0.f;
    for (long long j = threadIdx.x; j < s.N * PQ; j += blockDim.x) {
        const long long n = j / PQ, pq = j % PQ;
        acc += dy[(n * s.K + k) * PQ + pq];
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) db[k] = acc;
}

}  // namespace

void conv2d_forward_naive(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    NST_LAUNCH(conv2d_forward_kernel, grid_for(s.y_size()), 256, 0, stream())(x, w, b, y, s);
    NST_CUDA_CHECK_LAUNCH();
}
void conv2d_backward_data_naive(const float* dy, const float* w, float* dx, const ConvShape& s) {
    NST_LAUNCH(conv2d_backward_data_kernel, grid_for(s.x_size()), 256, 0, stream())(dy, w, dx, s);
    NST_CUDA_CHECK_LAUNCH();
}
void conv2d_backward_weight_naive(const float* x, const float* dy, float* dw, const ConvShape& s) {
    NST_LAUNCH(conv2d_backward_weight_kernel, unsigned(s.w_size()), 256, 0, stream())(x, dy, dw, s);
    NST_CUDA_CHECK_LAUNCH();
}
void conv2d_backward_bias_naive(const float* dy, float* db, const ConvShape& s) {
    NST_LAUNCH(conv2d_backward_bias_kernel, unsigned(s.K), 256, 0, stream())(dy, db, s);
    NST_CUDA_CHECK_LAUNCH();
}

}  // namespace nst::cuda
