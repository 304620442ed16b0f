// Optimizer arithmetic on the GPU (contracts in registry.h, OptimVariant). Scalars stay in device memory:
// the tiny scalar kernels run one thread, the vector ones read their coefficient from device memory.
#include <cstdint>
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/for_each.cuh"

namespace nst::cuda {
namespace {

struct ScaleByNormF {
    const float *g, *norm; float strength; float* out;
    __device__ void operator()(long long i) const { out[i] = strength / (*norm + 1e-8f) * g[i]; }
};
struct AxpySF {
    const float* coef; float mult; const float* x; float* y;
    __device__ void operator()(long long i) const { y[i] += mult * *coef * x[i]; }
};
struct ScalSF { const float* coef; float* x; __device__ void operator()(long long i) const { x[i] *= *coef; } };
struct AdamF {
    float *x; const float* g; float *m, *v; float step, beta1, beta2, eps;
    __device__ void operator()(long long i) const {
        const float gi = g[i];
        const float mi = beta1 * m[i] + (1 - beta1) * gi, vi = beta2 * v[i] + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] -= step * mi / (sqrtf(vi) + eps);
    }
};

__global__ void scalar_mul_kernel(const float* a, const float* b, float* out) { *out = *a * *b; }
__global__ void scalar_sub_kernel(const float* a, const float* b, float* out) { *out = *a - *b; }
__global__ void lbfgs_pair_kernel(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s) {
    const float ys = *ys_s;
    if (ys > 1e-10f) {
        *ro_s = 1.f / ys;
        *hdiag_s = ys / *yy_s;
    } else {
        *ro_s = 0.f;
    }
}
__global__ void lbfgs_first_step_kernel(const float* gnorm1, float lr, float* t) { *t = fminf(1.f, 1.f / *gnorm1) * lr; }

}  // namespace

void scale_by_norm(const float* g, const float* norm_s, float strength, int64_t n, float* out) {
    for_each(n, ScaleByNormF{g, norm_s, strength, out});
}
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y) { for_each(n, AxpySF{coef_s, mult, x, y}); }
void scal_s(int64_t n, const float* coef_s, float* x) { for_each(n, ScalSF{coef_s, x}); }
void scalar_mul(const float* a_s, const float* b_s, float* out_s) {
    NST_LAUNCH(scalar_mul_kernel, 1, 1, 0, stream())(a_s, b_s, out_s);
    NST_CUDA_CHECK_LAUNCH();
}
void scalar_sub(const float* a_s, const float* b_s, float* out_s) {
    NST_LAUNCH(scalar_sub_kernel, 1, 1, 0, stream())(a_s, b_s, out_s);
    NST_CUDA_CHECK_LAUNCH();
}
void lbfgs_pair(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s) {
    NST_LAUNCH(lbfgs_pair_kernel, 1, 1, 0, stream())(ys_s, yy_s, ro_s, hdiag_s);
    NST_CUDA_CHECK_LAUNCH();
}
void lbfgs_first_step(const float* gnorm1_s, float lr, float* t_s) {
    NST_LAUNCH(lbfgs_first_step_kernel, 1, 1, 0, stream())(gnorm1_s, lr, t_s);
    NST_CUDA_CHECK_LAUNCH();
}
void adam_step(int64_t n, float* x, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, int t) {
    const double bc1 = 1 - std::pow(double(beta1), t), bc2 = 1 - std::pow(double(beta2), t);
    for_each(n, AdamF{x, g, m, v, float(lr * std::sqrt(bc2) / bc1), beta1, beta2, eps});
}

}  // namespace nst::cuda
