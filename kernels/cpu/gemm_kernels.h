// The GEMM micro-kernels and their blocking (internal to gemm.cpp and its tests' benchmark).
//
// A micro-kernel computes one tile of C, m <= MR rows by n <= NR columns, from a packed micro-panel of A
// (kc steps of MR values: a[k*MR + i] = op(A)[i][k]) and one of B (kc steps of NR: b[k*NR + j] = op(B)[k][j]):
//   c[i*ldc + j] = (accumulate ? c[i*ldc + j] : 0) + Σ_k a[k*MR + i] · b[k*NR + j]      i < m, j < n
// Nothing outside the m x n tile of c is read or written (edge tiles on C's ragged border included).
//
// Blocking (Goto/BLIS): kc steps of A and B per pass (the B micro-panel, kc·NR floats, stays in L1 while
// the A micro-panels of an mc x kc block stream from L2; the B block, kc x N, lives in L3).
#pragma once
#include <cstdint>

namespace nst::cpu {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                             bool accumulate);

struct GemmKernel {
    const char* name;
    int id;      // recorded in packed A, so a packing is never read by another kernel
    int mr, nr;  // the register tile
    int kc, mc;  // the cache blocking: kc steps of K, mc rows of A (a multiple of mr)
    MicroKernel micro;
    bool (*runs_here)();  // the CPU (and OS) support its instructions
};

extern const GemmKernel kGemmAvx512;  // gemm_kernel_avx512.cpp (x86-64 only)
extern const GemmKernel kGemmAvx2;    // gemm_kernel_avx2.cpp (x86-64 only)
extern const GemmKernel kGemmPortable;

const GemmKernel& active_gemm_kernel();

}  // namespace nst::cpu
