// cuBLAS wrappers. cuBLAS is column-major: a row-major (C, HW) feature matrix F is, to cuBLAS, the
// column-major (HW, C) matrix Fᵀ with leading dimension HW. Hence G = F Fᵀ is gemm(T, N) on that view.
#include "kernels/cublas/cublas_kernels.h"

#include <cstdint>
#include <cublas_v2.h>

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "base/device.h"
#include "kernels/registry.h"  // allow_tf32

namespace nst::cublas {
namespace {

void check(cublasStatus_t st, const char* expr, int line) {
    if (st != CUBLAS_STATUS_SUCCESS)
        throw Error(std::string("cuBLAS error '") + cublasGetStatusString(st) + "' in " + expr + " at " +
                    __FILE__ + ":" + std::to_string(line));
}
#define NST_CUBLAS_CHECK(expr) check((expr), #expr, __LINE__)

cublasHandle_t handle() {
    static cublasHandle_t h = [] {
        cublasHandle_t hh{};
        NST_CUBLAS_CHECK(cublasCreate(&hh));
        NST_CUBLAS_CHECK(cublasSetStream(hh, cuda::stream()));
        return hh;
    }();
    NST_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    return h;
}

// BLAS-1 results go to device memory (no host sync); alphas come from the host.
cublasHandle_t handle_with(cublasPointerMode_t mode) {
    cublasHandle_t h = handle();
    NST_CUBLAS_CHECK(cublasSetPointerMode(h, mode));
    return h;
}

}  // namespace

void gram_forward(const float* f, float* g, const GramShape& s) {
    // Per image: G (C x C) = scale * (Fᵀ_cm)ᵀ (Fᵀ_cm), with Fᵀ_cm the (HW x C) column-major view of F.
    const float alpha = float(s.scale()), beta = 0.f;
    NST_CUBLAS_CHECK(cublasSgemmStridedBatched_64(handle_with(CUBLAS_POINTER_MODE_HOST), CUBLAS_OP_T, CUBLAS_OP_N,
                                                  s.C, s.C, s.HW, &alpha, f, s.HW, s.C * s.HW, f, s.HW,
                                                  s.C * s.HW, &beta, g, s.C, int64_t(s.C) * s.C, s.N));
}

void gram_backward(const float* f, const float* dg, float* df, const GramShape& s) {
    // S = scale (dG + dGᵀ) (geam), then dF = S F, i.e. column-major dFᵀ_cm = Fᵀ_cm S (S is symmetric).
    cublasHandle_t h = handle_with(CUBLAS_POINTER_MODE_HOST);
    const int64_t cc = int64_t(s.C) * s.C;
    float* S = static_cast<float*>(cuda::workspace(size_t(cc * s.N) * sizeof(float)));
    const float a = float(s.scale()), one = 1.f, zero = 0.f;
    for (int n = 0; n < s.N; ++n)
        NST_CUBLAS_CHECK(cublasSgeam(h, CUBLAS_OP_N, CUBLAS_OP_T, s.C, s.C, &a, dg + n * cc, s.C, &a, dg + n * cc,
                                     s.C, S + n * cc, s.C));
    NST_CUBLAS_CHECK(cublasSgemmStridedBatched_64(h, CUBLAS_OP_N, CUBLAS_OP_N, s.HW, s.C, s.C, &one, f, s.HW,
                                                  s.C * s.HW, S, s.C, cc, &zero, df, s.HW, s.C * s.HW, s.N));
}

void dot(const float* x, const float* y, int64_t n, float* out) {
    NST_CUBLAS_CHECK(cublasSdot_64(handle_with(CUBLAS_POINTER_MODE_DEVICE), n, x, 1, y, 1, out));
}
void axpy(int64_t n, float alpha, const float* x, float* y) {
    NST_CUBLAS_CHECK(cublasSaxpy_64(handle_with(CUBLAS_POINTER_MODE_HOST), n, &alpha, x, 1, y, 1));
}
void scal(int64_t n, float alpha, float* x) {
    NST_CUBLAS_CHECK(cublasSscal_64(handle_with(CUBLAS_POINTER_MODE_HOST), n, &alpha, x, 1));
}
void nrm2(const float* x, int64_t n, float* out) {
    NST_CUBLAS_CHECK(cublasSnrm2_64(handle_with(CUBLAS_POINTER_MODE_DEVICE), n, x, 1, out));
}

}  // namespace nst::cublas
