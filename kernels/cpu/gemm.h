// The project's own single-precision GEMM for the CPU: packed panels, a register-blocked micro-kernel
// and cache blocking, as BLIS and GotoBLAS do it (docs/kernels.md, "CPU GEMM"). No library and no
// table of CPU models decides its speed: the micro-kernel is picked from the CPU's features at run time.
//
//   C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C        row-major; op = as is or transposed
//
// Contract: single-threaded (the callers split their work over the pool in parallel.h and call this from
// inside their chunks); C may not overlap A or B; beta = 0 never reads C (NaN there is overwritten).
//
// Micro-kernels (gemm_kernel_*.cpp), one of which is active:
//   "avx512"   MR x NR = 14 x 32, AVX-512F     (x86-64 CPUs with avx512f)
//   "avx2"     MR x NR =  6 x 16, AVX2 + FMA   (x86-64 CPUs with avx2 and fma)
//   "portable" MR x NR =  4 x 8,  plain C++    (everywhere; the compiler vectorises what it can)
// The default is the widest the CPU runs; $NST_GEMM_KERNEL or set_gemm_kernel() force one (tests run
// every path the machine can, benchmarks compare them).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nst::cpu {

enum class Trans { No, Yes };

struct GemmKernel;  // gemm_kernels.h: a micro-kernel and its blocking

// The active micro-kernel's name, and the names this CPU can run (widest first).
std::string gemm_kernel_name();
std::vector<std::string> gemm_kernels_available();
// Forces a micro-kernel by name; throws Error naming the choices when it is unknown or this CPU cannot
// run it. Returns the previous name. Not thread-safe: call it between computations.
std::string set_gemm_kernel(const std::string& name);

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The same product with op(A) packed once ahead of time, for a matrix used many times (a frozen layer's
// transformed filters). The packed layout belongs to the micro-kernel active when pack_a ran, which it
// records: sgemm_packed throws Error if another one is active now.
int64_t packed_a_floats(int64_t M, int64_t K);  // for the active micro-kernel, header included
int64_t packed_a_floats(const float* packed);    // of an existing packing, whichever kernel made it
void pack_a(Trans ta, int64_t M, int64_t K, const float* A, int64_t lda, float* packed);
void sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float* packed_a, Trans tb, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc);

// C[M, N] = alpha · Pᵀ · op(B) + beta · C, where packed_a is pack_a's packing of P (K x M): the same
// packing read transposed, in place. A frozen Winograd layer keeps one packing of U_ξ for its forward
// (U_ξ · V) and its backward (U_ξᵀ · dM).
void sgemm_packed_t(int64_t M, int64_t N, int64_t K, float alpha, const float* packed_a, Trans tb, const float* B,
                    int64_t ldb, float beta, float* C, int64_t ldc);

// Only the micro-tiles of C on or above the diagonal (M == N): C's upper triangle, for a Gram matrix
// F·Fᵀ. Tiles wholly below it are skipped (half the work), so the caller mirrors the upper triangle;
// the lower part holds partial values, not C's.
void sgemm_upper(Trans ta, Trans tb, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace nst::cpu
