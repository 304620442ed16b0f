// Gram matrix, CPU variant "blas": per image G = α F Fᵀ as a symmetric rank-k update (SSYRK, half the
// multiply-adds of a GEMM) mirrored to the full matrix; backward dF = α (dG + dGᵀ) F as one SGEMM.
// Compiled only with OpenBLAS; the reference (gram.cpp) stays the spec.
#include <cblas.h>

#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"

namespace nst::cpu {

void gram_forward_blas(const float* f, float* g, const GramShape& s) {
    const int C = s.C;
    for (int n = 0; n < s.N; ++n) {
        const float* F = f + int64_t(n) * C * s.HW;
        float* G = g + int64_t(n) * C * C;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, C, int(s.HW), float(s.scale()), F, int(s.HW), 0.f, G, C);
        for (int i = 0; i < C; ++i)
            for (int j = 0; j < i; ++j) G[i * C + j] = G[j * C + i];  // mirror the upper triangle
    }
}

void gram_backward_blas(const float* f, const float* dg, float* df, const GramShape& s) {
    const int C = s.C;
    std::vector<float> S(size_t(C) * C);
    const float a = float(s.scale());
    for (int n = 0; n < s.N; ++n) {
        const float* dG = dg + int64_t(n) * C * C;
        for (int i = 0; i < C; ++i)
            for (int j = 0; j < C; ++j) S[size_t(i * C + j)] = a * (dG[i * C + j] + dG[j * C + i]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, int(s.HW), C, 1.f, S.data(), C,
                    f + int64_t(n) * C * s.HW, int(s.HW), 0.f, df + int64_t(n) * C * s.HW, int(s.HW));
    }
}

}  // namespace nst::cpu
