// Reductions to one float on the device. Deterministic: pass 1 writes one partial sum per block (fixed
// grid), pass 2 sums those in one block and applies the final transform (mean, sqrt). Partials live in a
// static device buffer, so a reduction never allocates (safe because every kernel runs on one stream).
#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include <cstdint>

namespace nst::cuda {
namespace {

constexpr int kBlocks = 512, kThreads = 256;
__device__ float g_partials[kBlocks];

template <class F> __global__ void partial_sums_kernel(long long n, F f) {
    float acc = 0.f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        acc += f(i);
    acc = block_sum(acc);
    if (threadIdx.x == 0) g_partials[blockIdx.x] = acc;
}

enum class Final { Identity, Sqrt };

__global__ void final_sum_kernel(int count, float scale, Final fin, float* out) {
    float acc = 0.f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += g_partials[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) *out = fin == Final::Sqrt ? sqrtf(acc * scale) : acc * scale;
}

template <class F> void reduce(long long n, F f, float* out, float scale = 1.f, Final fin = Final::Identity) {
    int blocks = int((n + kThreads - 1) / kThreads);
    blocks = blocks < 1 ? 1 : (blocks > kBlocks ? kBlocks : blocks);
    NST_LAUNCH(partial_sums_kernel<F>, blocks, kThreads, 0, stream())(n, f);
    NST_CUDA_CHECK_LAUNCH();
    NST_LAUNCH(final_sum_kernel, 1, 1024, 0, stream())(blocks, scale, fin, out);
    NST_CUDA_CHECK_LAUNCH();
}

struct ValueF { const float* x; __device__ float operator()(long long i) const { return x[i]; } };
struct SquareF { const float* x; __device__ float operator()(long long i) const { return x[i] * x[i]; } };
struct DiffSqF {
    const float *a, *b;
    __device__ float operator()(long long i) const { const float d = a[i] - b[i]; return d * d; }
};
struct AbsF { const float* x; __device__ float operator()(long long i) const { return fabsf(x[i]); } };
struct ProductF { const float *a, *b; __device__ float operator()(long long i) const { return a[i] * b[i]; } };
struct TvF {
    const float* x; ImageShape s;
    __device__ float operator()(long long i) const {
        const int j = int(i % s.W), r = int((i / s.W) % s.H);
        float acc = 0.f;
        if (j + 1 < s.W) { const float d = x[i + 1] - x[i]; acc += d * d; }
        if (r + 1 < s.H) { const float d = x[i + s.W] - x[i]; acc += d * d; }
        return acc;
    }
};

}  // namespace

void sum(const float* x, int64_t n, float* out) { reduce(n, ValueF{x}, out); }
void sum_squares(const float* x, int64_t n, float* out) { reduce(n, SquareF{x}, out); }
void mse(const float* a, const float* b, int64_t n, float* out) { reduce(n, DiffSqF{a, b}, out, 1.f / float(n)); }
void tv(const float* x, const ImageShape& s, float* out) { reduce(s.size(), TvF{x, s}, out); }
void dot(const float* x, const float* y, int64_t n, float* out) { reduce(n, ProductF{x, y}, out); }
void nrm2(const float* x, int64_t n, float* out) { reduce(n, SquareF{x}, out, 1.f, Final::Sqrt); }
void asum(const float* x, int64_t n, float* out) { reduce(n, AbsF{x}, out); }

}  // namespace nst::cuda
