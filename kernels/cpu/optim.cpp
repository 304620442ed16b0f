// Optimizer arithmetic, CPU reference (contracts in registry.h, OptimVariant). "Device scalars" are
// plain floats in host memory here.
#include <cstdint>
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"

namespace nst::cpu {

void asum(const float* x, int64_t n, float* out_s) {
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += std::abs(double(x[i]));
    *out_s = float(acc);
}
void scale_by_norm(const float* g, const float* norm_s, float strength, int64_t n, float* out) {
    const float c = strength / (*norm_s + 1e-8f);
    for (int64_t i = 0; i < n; ++i) out[i] = c * g[i];
}
void axpy_s(int64_t n, const float* coef_s, float mult, const float* x, float* y) {
    const float a = mult * *coef_s;
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void scal_s(int64_t n, const float* coef_s, float* x) {
    const float a = *coef_s;
    for (int64_t i = 0; i < n; ++i) x[i] *= a;
}
void scalar_mul(const float* a_s, const float* b_s, float* out_s) { *out_s = *a_s * *b_s; }
void scalar_sub(const float* a_s, const float* b_s, float* out_s) { *out_s = *a_s - *b_s; }
void lbfgs_pair(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s) {
    const float ys = *ys_s;
    if (ys > 1e-10f) {
        *ro_s = 1.f / ys;
        *hdiag_s = ys / *yy_s;
    } else {
        *ro_s = 0.f;
    }
}
void lbfgs_first_step(const float* gnorm1_s, float lr, float* t_s) { *t_s = std::min(1.f, 1.f / *gnorm1_s) * lr; }
void adam_step(int64_t n, float* x, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, int t) {
    // Torch7 optim.adam's form: step = lr * sqrt(1 - beta2^t) / (1 - beta1^t), x -= step * m / (sqrt(v) + eps)
    const double bc1 = 1 - std::pow(double(beta1), t), bc2 = 1 - std::pow(double(beta2), t);
    const float step = float(lr * std::sqrt(bc2) / bc1);
    for (int64_t i = 0; i < n; ++i) {
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        x[i] -= step * m[i] / (std::sqrt(v[i]) + eps);
    }
}

}  // namespace nst::cpu
