// cuBLAS, loaded on first use instead of at program start (nvcc builds; the CUDA-on-CPU build has its
// own stand-ins in cuda_on_cpu/cublas.cpp).
//
// Why: linking libcublas makes the dynamic loader map and relocate libcublasLt at start-up, about 150 MiB
// of resident memory (210 MiB at the peak of loading) in every process, including the CPU-only runs that
// never touch a GPU (measured: an empty main() linked with -lcublasLt). So the program does not link it:
// this file defines the cuBLAS functions the project calls, each of which finds the real one with
// dlopen/dlsym the first time it is called. Call sites are unchanged (they include cublas_v2.h as usual).
// A missing library makes every call return CUBLAS_STATUS_NOT_INITIALIZED, and cublasGetStatusString
// then says which file could not be loaded and why.
#include <cstdint>
#include <cublas_v2.h>
#include <dlfcn.h>

#include <mutex>
#include <string>

namespace {

struct Library {
    void* handle = nullptr;
    std::string error;  // why it could not be loaded
};

const Library& library() {
    static const Library lib = [] {
        Library l;
        // The soname first (LD_LIBRARY_PATH, ld.so.conf), then the toolkit this was built against.
        for (const char* path : {NST_CUBLAS_SONAME, NST_CUBLAS_FALLBACK}) {
            if ((l.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL))) return l;
            l.error += std::string(l.error.empty() ? "" : "; ") + dlerror();
        }
        return l;
    }();
    return lib;
}

template <class F> F resolve(const char* name) {
    const Library& lib = library();
    return lib.handle ? reinterpret_cast<F>(dlsym(lib.handle, name)) : nullptr;
}

}  // namespace

// Each forwarder: the real function, found once, or CUBLAS_STATUS_NOT_INITIALIZED without it.
#define NST_CUBLAS_FORWARD(name, params, args)                                 \
    cublasStatus_t CUBLASWINAPI name params {                                  \
        static const auto real = resolve<decltype(&name)>(#name);              \
        return real ? real args : CUBLAS_STATUS_NOT_INITIALIZED;               \
    }

NST_CUBLAS_FORWARD(cublasCreate_v2, (cublasHandle_t* handle), (handle))
NST_CUBLAS_FORWARD(cublasDestroy_v2, (cublasHandle_t handle), (handle))
NST_CUBLAS_FORWARD(cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t stream), (handle, stream))
NST_CUBLAS_FORWARD(cublasSetMathMode, (cublasHandle_t handle, cublasMath_t mode), (handle, mode))
NST_CUBLAS_FORWARD(cublasSetPointerMode_v2, (cublasHandle_t handle, cublasPointerMode_t mode), (handle, mode))
NST_CUBLAS_FORWARD(cublasSaxpy_v2_64,
                   (cublasHandle_t h, int64_t n, const float* alpha, const float* x, int64_t incx, float* y, int64_t incy),
                   (h, n, alpha, x, incx, y, incy))
NST_CUBLAS_FORWARD(cublasSdot_v2_64,
                   (cublasHandle_t h, int64_t n, const float* x, int64_t incx, const float* y, int64_t incy, float* result),
                   (h, n, x, incx, y, incy, result))
NST_CUBLAS_FORWARD(cublasSnrm2_v2_64, (cublasHandle_t h, int64_t n, const float* x, int64_t incx, float* result),
                   (h, n, x, incx, result))
NST_CUBLAS_FORWARD(cublasSscal_v2_64, (cublasHandle_t h, int64_t n, const float* alpha, float* x, int64_t incx),
                   (h, n, alpha, x, incx))
NST_CUBLAS_FORWARD(cublasSgeam,
                   (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, const float* alpha,
                    const float* A, int lda, const float* beta, const float* B, int ldb, float* C, int ldc),
                   (h, ta, tb, m, n, alpha, A, lda, beta, B, ldb, C, ldc))
NST_CUBLAS_FORWARD(cublasSgemm_v2,
                   (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* alpha,
                    const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc),
                   (h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
NST_CUBLAS_FORWARD(cublasSgemmStridedBatched_64,
                   (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                    const float* alpha, const float* A, int64_t lda, long long int strideA, const float* B, int64_t ldb,
                    long long int strideB, const float* beta, float* C, int64_t ldc, long long int strideC,
                    int64_t batchCount),
                   (h, ta, tb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batchCount))

const char* CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
    static const auto real = resolve<decltype(&cublasGetStatusString)>("cublasGetStatusString");
    if (real) return real(status);
    static const std::string why = "cuBLAS could not be loaded: " + library().error;
    return why.c_str();
}
