// Gram matrix, CPU variant "blas": per image G = α F Fᵀ as symmetric rank-k updates (SSYRK, half the
// multiply-adds of a GEMM) mirrored to the full matrix; backward dF = α (dG + dGᵀ) F as SGEMM.
// Threads (parallel.h): the forward splits the HW columns of F, each thread adding its columns' SSYRK
// into its own C x C partial, summed at the end; the backward splits dF's columns.
// Compiled only with OpenBLAS; the reference (gram.cpp) stays the spec.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/parallel.h"

namespace nst::cpu {

namespace {
constexpr int64_t kMinColumns = 2048;  // per thread: below this one thread is faster
}

void gram_forward_blas(const float* f, float* g, const GramShape& s) {
    const int C = s.C;
    const float a = float(s.scale());
    const int pieces = int(std::clamp<int64_t>(s.HW / kMinColumns, 1, pool_threads()));
    std::vector<std::vector<float>> partial(static_cast<size_t>(pieces));  // piece 0 writes G itself
    for (int n = 0; n < s.N; ++n) {
        const float* F = f + int64_t(n) * C * s.HW;
        float* G = g + int64_t(n) * C * C;
        parallel_for(pieces, 1, [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t b = s.HW * p / pieces, e = s.HW * (p + 1) / pieces;
                float* out = G;
                if (p > 0) {
                    partial[size_t(p)].resize(size_t(C) * C);
                    out = partial[size_t(p)].data();
                }
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, C, int(e - b), a, F + b, int(s.HW), 0.f, out, C);
            }
        });
        for (int p = 1; p < pieces; ++p)
            for (int i = 0; i < C; ++i)
                for (int j = i; j < C; ++j) G[i * C + j] += partial[size_t(p)][size_t(i * C + j)];
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
        const float* F = f + int64_t(n) * C * s.HW;
        float* dF = df + int64_t(n) * C * s.HW;
        parallel_for(s.HW, kMinColumns, [&](int64_t b, int64_t e) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, int(e - b), C, 1.f, S.data(), C, F + b, int(s.HW),
                        0.f, dF + b, int(s.HW));
        });
    }
}

}  // namespace nst::cpu
