// Gram matrix, variant "naive": one thread per entry G[n,i,j] (forward) and per F[n,i,p] (backward).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace nst::cuda {
namespace {

__global__ void gram_forward_kernel(const float* f, float* g, GramShape s, float scale) {
    const long long total = (long long)s.N * s.C * s.C;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int j = int(idx % s.C), i = int((idx / s.C) % s.C);
        const long long n = idx / ((long long)s.C * s.C);
        const float* Fi = f + (n * s.C + i) * s.HW;
        const float* Fj = f + (n * s.C + j) * s.HW;
        float acc = 0.f;
        for (long long p = 0; p < s.HW; ++p) acc += Fi[p] * Fj[p];
        g[idx] = acc * scale;
    }
}

__global__ void gram_backward_kernel(const float* f, const float* dg, float* df, GramShape s, float scale) {
    const long long total = (long long)s.N * s.C * s.HW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long p = idx % s.HW;
        const int i = int((idx / s.HW) % s.C);
        const long long n = idx / (s.HW * s.C);
        const float* dG = dg + n * s.C * s.C;
        const float* F = f + n * s.C * s.HW;
        float acc = 0.f;
        for (int j = 0; j < s.C; ++j) acc += (dG[i * s.C + j] + dG[j * s.C + i]) * F[j * s.HW + p];
        df[idx] = acc * scale;
    }
}

}  // namespace

void gram_forward_naive(const float* f, float* g, const GramShape& s) {
    NST_LAUNCH(gram_forward_kernel, grid_for((long long)s.N * s.C * s.C), 256, 0, stream())(f, g, s, float(s.scale()));
    NST_CUDA_CHECK_LAUNCH();
}
void gram_backward_naive(const float* f, const float* dg, float* df, const GramShape& s) {
    NST_LAUNCH(gram_backward_kernel, grid_for((long long)s.N * s.C * s.HW), 256, 0, stream())(f, dg, df, s,
                                                                                       float(s.scale()));
    NST_CUDA_CHECK_LAUNCH();
}

}  // namespace nst::cuda
