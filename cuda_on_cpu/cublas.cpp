// cuda_on_cpu: the cuBLAS subset (contract in include/cublas_v2.h). Each call checks its arguments as
// cuBLAS does (bad sizes: CUBLAS_STATUS_INVALID_VALUE), checks that every operand lies in device memory
// (else an illegal-address fault, sticky, as a GPU would give), then submits the arithmetic to the
// handle's stream.
#include <cstdint>
#include <cublas_v2.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_on_cpu/internal.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

using cuda_on_cpu::device_range;

// Operands must be device memory: a host pointer passed to cuBLAS is an illegal address on a GPU.
bool on_device(const void* p, int64_t floats, const char* call, const char* name) {
    if (floats <= 0 || device_range(p, size_t(floats) * sizeof(float))) return true;
    cuda_on_cpu::fault(cudaErrorIllegalAddress, std::string(call) + ": operand " + name + " (" + std::to_string(floats) +
                                                    " floats) is not inside one cudaMalloc allocation");
    return false;
}

// Floats spanned by a column-major rows x cols matrix with leading dimension ld, batch times stride apart.
int64_t span(int64_t rows, int64_t cols, int64_t ld, int64_t batch = 1, int64_t stride = 0) {
    if (rows <= 0 || cols <= 0 || batch <= 0) return 0;
    return (batch - 1) * stride + (cols - 1) * ld + rows;
}

cublasStatus_t submitted(cublasHandle_t h, std::function<void()> op) {
    return cuda_on_cpu::submit(h->stream, std::move(op)) == cudaSuccess ? CUBLAS_STATUS_SUCCESS
                                                                          : CUBLAS_STATUS_EXECUTION_FAILED;
}

struct Gemm {
    bool ta, tb, tf32;
    int64_t m, n, k, lda, ldb, ldc, sa, sb, sc, batch;
    float alpha, beta;
    const float *A, *B;
    float* C;

    float in(float v) const { return tf32 ? nvcuda::wmma::__float_to_tf32(v) : v; }  // the WMMA model's rounding
    void run() const {
        for (int64_t p = 0; p < batch; ++p) {
            const float *a = A + p * sa, *b = B + p * sb;
            float* c = C + p * sc;
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < m; ++i) {
                    double acc = 0;
                    for (int64_t l = 0; l < k; ++l)
                        acc += double(in(ta ? a[l + i * lda] : a[i + l * lda])) * in(tb ? b[j + l * ldb] : b[l + j * ldb]);
                    float& out = c[i + j * ldc];
                    // beta == 0: C is written, never read (it may hold anything, NaN included), as in BLAS.
                    out = float(alpha * acc + (beta == 0.f ? 0.0 : double(beta) * out));
                }
        }
    }
};

cublasStatus_t gemm(cublasHandle_t h, const Gemm& g, const char* call) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0 || g.lda < std::max<int64_t>(1, g.ta ? g.k : g.m) ||
        g.ldb < std::max<int64_t>(1, g.tb ? g.n : g.k) || g.ldc < std::max<int64_t>(1, g.m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!on_device(g.A, span(g.ta ? g.k : g.m, g.ta ? g.m : g.k, g.lda, g.batch, g.sa), call, "A") ||
        !on_device(g.B, span(g.tb ? g.n : g.k, g.tb ? g.k : g.n, g.ldb, g.batch, g.sb), call, "B") ||
        !on_device(g.C, span(g.m, g.n, g.ldc, g.batch, g.sc), call, "C"))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return submitted(h, [g] { g.run(); });
}

// alpha and beta of the level-3 calls: read at the call, from host memory. The device pointer mode is
// not modelled for them (the project never uses it): those calls return CUBLAS_STATUS_NOT_SUPPORTED.
float host_scalar(const float* p) { return *p; }

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
    *handle = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t stream) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(h, Gemm{ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, h->math == CUBLAS_TF32_TENSOR_OP_MATH, m, n, k, lda, ldb,
                        ldc, 0, 0, 0, 1, host_scalar(alpha), host_scalar(beta), A, B, C},
                "cublasSgemm");
}

cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const float* alpha, const float* A, int64_t lda,
                                            int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                                            const float* beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(h, Gemm{ta != CUBLAS_OP_N, tb != CUBLAS_OP_N, h->math == CUBLAS_TF32_TENSOR_OP_MATH, m, n, k, lda, ldb,
                        ldc, stride_a, stride_b, stride_c, batch, host_scalar(alpha), host_scalar(beta), A, B, C},
                "cublasSgemmStridedBatched_64");
}

cublasStatus_t cublasSgeam(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                           const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb,
                           float* C, int ldc) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
    const bool at = ta != CUBLAS_OP_N, bt = tb != CUBLAS_OP_N;
    if (m < 0 || n < 0 || lda < std::max(1, at ? n : m) || ldb < std::max(1, bt ? n : m) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!on_device(A, span(at ? n : m, at ? m : n, lda), "cublasSgeam", "A") ||
        !on_device(B, span(bt ? n : m, bt ? m : n, ldb), "cublasSgeam", "B") ||
        !on_device(C, span(m, n, ldc), "cublasSgeam", "C"))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    const float a = host_scalar(alpha), b = host_scalar(beta);
    return submitted(h, [=] {
        std::vector<float> out(size_t(m) * n);  // C may alias A or B
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                const float av = at ? A[j + i * lda] : A[i + j * lda], bv = bt ? B[j + i * ldb] : B[i + j * ldb];
                out[i + size_t(j) * m] = (a == 0.f ? 0.f : a * av) + (b == 0.f ? 0.f : b * bv);
            }
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) C[i + j * ldc] = out[i + size_t(j) * m];
    });
}

namespace {
// BLAS-1 with a scalar result: to host memory now, or to device memory when the stream runs.
template <class F> cublasStatus_t scalar_result(cublasHandle_t h, float* result, const char* call, F compute) {
    if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
        if (!on_device(result, 1, call, "result")) return CUBLAS_STATUS_EXECUTION_FAILED;
        return submitted(h, [=] { *result = compute(); });
    }
    // To host memory: cuBLAS must wait for the stream, which a capture forbids (and then ends).
    if (cuda_on_cpu::capturing(h->stream)) {
        cuda_on_cpu::invalidate_capture(h->stream);
        cuda_on_cpu::fail(cudaErrorStreamCaptureUnsupported, std::string(call) + " to host memory during a capture");
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    const cublasStatus_t st = submitted(h, [] {});
    if (st == CUBLAS_STATUS_SUCCESS) *result = compute();
    return st;
}
}  // namespace

cublasStatus_t cublasSdot_64(cublasHandle_t h, int64_t n, const float* x, int64_t incx, const float* y, int64_t incy,
                             float* result) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!on_device(x, span(1, n, incx), "cublasSdot", "x") || !on_device(y, span(1, n, incy), "cublasSdot", "y"))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    return scalar_result(h, result, "cublasSdot", [=] {
        double acc = 0;
        for (int64_t i = 0; i < n; ++i) acc += double(x[i * incx]) * y[i * incy];
        return float(acc);
    });
}

cublasStatus_t cublasSnrm2_64(cublasHandle_t h, int64_t n, const float* x, int64_t incx, float* result) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!on_device(x, span(1, n, incx), "cublasSnrm2", "x")) return CUBLAS_STATUS_EXECUTION_FAILED;
    return scalar_result(h, result, "cublasSnrm2", [=] {
        double acc = 0;
        for (int64_t i = 0; i < n; ++i) acc += double(x[i * incx]) * x[i * incx];
        return float(std::sqrt(acc));
    });
}

cublasStatus_t cublasSaxpy_64(cublasHandle_t h, int64_t n, const float* alpha, const float* x, int64_t incx, float* y,
                              int64_t incy) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;  // not used by the project
    if (!on_device(x, span(1, n, incx), "cublasSaxpy", "x") || !on_device(y, span(1, n, incy), "cublasSaxpy", "y"))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    const float a = *alpha;
    return submitted(h, [=] {
        for (int64_t i = 0; i < n; ++i) y[i * incy] += a * x[i * incx];
    });
}

cublasStatus_t cublasSscal_64(cublasHandle_t h, int64_t n, const float* alpha, float* x, int64_t incx) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (h->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (!on_device(x, span(1, n, incx), "cublasSscal", "x")) return CUBLAS_STATUS_EXECUTION_FAILED;
    const float a = *alpha;
    return submitted(h, [=] {
        for (int64_t i = 0; i < n; ++i) x[i * incx] *= a;
    });
}
