// Gram matrix, CPU variants "gemm" (the project's GEMM, gemm.h) and "blas" (OpenBLAS, the yardstick):
// per image G = α F Fᵀ computed as its upper triangle only (half the multiply-adds of a full product:
// sgemm_upper, or SSYRK on OpenBLAS) and mirrored; backward dF = α (dG + dGᵀ) F as one GEMM.
// Threads (parallel.h): the forward splits the HW columns of F, each thread adding its columns' product
// into its own C x C partial, summed at the end; the backward splits dF's columns.
// The reference (gram.cpp) stays the spec.
#include <cstdint>
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#ifdef NST_HAVE_OPENBLAS
#include <cblas.h>

#include "kernels/cpu/openblas.h"
#endif

namespace nst::cpu {

namespace {

constexpr int64_t kMinColumns = 2048;  // per thread: below this one thread is faster

// out (C x C, upper triangle) = a · F[:, b..e) F[:, b..e)ᵀ, F with row stride ld.
using UpperProduct = void (*)(int C, int64_t columns, float a, const float* F, int64_t ld, float* out);
using Gemm = void (*)(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                      float, float*, int64_t);

void upper_ours(int C, int64_t columns, float a, const float* F, int64_t ld, float* out) {
    sgemm_upper(Trans::No, Trans::Yes, C, columns, a, F, ld, F, ld, 0.f, out, C);
}

void forward(UpperProduct upper, const float* f, float* g, const GramShape& s) {
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
                upper(C, e - b, a, F + b, s.HW, out);
            }
        });
        for (int p = 1; p < pieces; ++p)
            for (int i = 0; i < C; ++i)
                for (int j = i; j < C; ++j) G[i * C + j] += partial[size_t(p)][size_t(i * C + j)];
        for (int i = 0; i < C; ++i)
            for (int j = 0; j < i; ++j) G[i * C + j] = G[j * C + i];  // mirror the upper triangle
    }
}

void backward(Gemm gemm, const float* f, const float* dg, float* df, const GramShape& s) {
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
            gemm(Trans::No, Trans::No, C, e - b, C, 1.f, S.data(), C, F + b, s.HW, 0.f, dF + b, s.HW);
        });
    }
}

#ifdef NST_HAVE_OPENBLAS
void upper_blas(int C, int64_t columns, float a, const float* F, int64_t ld, float* out) {
    warn_openblas_core_once();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, C, int(columns), a, F, int(ld), 0.f, out, C);
}
#endif

}  // namespace

void gram_forward_gemm(const float* f, float* g, const GramShape& s) { forward(upper_ours, f, g, s); }
void gram_backward_gemm(const float* f, const float* dg, float* df, const GramShape& s) { backward(sgemm, f, dg, df, s); }

#ifdef NST_HAVE_OPENBLAS
void gram_forward_blas(const float* f, float* g, const GramShape& s) { forward(upper_blas, f, g, s); }
void gram_backward_blas(const float* f, const float* dg, float* df, const GramShape& s) {
    backward(openblas_sgemm, f, dg, df, s);
}
#endif

}  // namespace nst::cpu
