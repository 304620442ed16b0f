// cuda_on_cpu: the cuBLAS calls this project makes, computed on the CPU (cuda_on_cpu/cublas.cpp) and
// ordered on the handle's stream like every other operation (so they are captured into CUDA graphs).
// Column-major, as cuBLAS. Products are accumulated in double and rounded once (cuBLAS's fp32
// summation order is not modelled); CUBLAS_TF32_TENSOR_OP_MATH rounds the GEMM inputs to TF32 first.
// Host-pointer scalars are read at the call, device-pointer results written when the stream runs.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

enum cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
enum cublasPointerMode_t { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TENSOR_OP_MATH = 1, CUBLAS_TF32_TENSOR_OP_MATH = 3 };

struct cublasContext;
typedef cublasContext* cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t* handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode);
const char* cublasGetStatusString(cublasStatus_t status);

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc);
cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const float* alpha, const float* A, int64_t lda,
                                            int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                                            const float* beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch);
cublasStatus_t cublasSgeam(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                           const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb,
                           float* C, int ldc);
cublasStatus_t cublasSdot_64(cublasHandle_t h, int64_t n, const float* x, int64_t incx, const float* y, int64_t incy,
                             float* result);
cublasStatus_t cublasSaxpy_64(cublasHandle_t h, int64_t n, const float* alpha, const float* x, int64_t incx, float* y,
                              int64_t incy);
cublasStatus_t cublasSscal_64(cublasHandle_t h, int64_t n, const float* alpha, float* x, int64_t incx);
cublasStatus_t cublasSnrm2_64(cublasHandle_t h, int64_t n, const float* x, int64_t incx, float* result);
