// The GEMM micro-kernels and their blocking (internal to gemm.cpp and its tests' benchmark).
//
// A micro-kernel computes one tile of C, m <= MR rows by n <= NR columns, from a micro-panel of A and one
// of B (kc steps of NR values, ldb apart: b[k*ldb + j] = op(B)[k][j]; ldb = NR when B is packed):
//   c[i*ldc + j] = (accumulate ? c[i*ldc + j] : 0) + Σ_k A(i, k) · b[k*ldb + j]      i < m, j < n
// Nothing outside the m x n tile of c, and nothing of b past column n, is read or written (edge tiles
// on C's ragged border included; B read in place has no padding).
// A is read in groups of MR k steps, group g starting at a + g·a_group_stride, k = g·MR + r:
//   as packed (a_transposed false):  A(i, k) = a[g·a_group_stride + r·MR + i]   (a_group_stride = MR·MR)
//   transposed (true):               A(i, k) = a[g·a_group_stride + i·MR + r]
// The second reads a packing of a matrix P as Pᵀ in place: one packing of a frozen layer's U serves
// the forward (U) and the backward (Uᵀ) products (gemm.cpp, sgemm_packed_t).
//
// Blocking (Goto/BLIS): kc steps of A and B per pass (the B micro-panel, kc·NR floats, stays in L1 while
// the A micro-panels of an mc x kc block stream from L2; the B block, kc x N, lives in L3).
#pragma once
#include <cstdint>

namespace nst::cpu {

using MicroKernel = void (*)(int64_t kc, const float* a, int64_t a_group_stride, bool a_transposed, const float* b,
                             int64_t ldb, float* c, int64_t ldc, int m, int n, bool accumulate);

struct GemmKernel {
    const char* name;
    int id;      // recorded in packed A, so a packing is never read by another kernel
    int mr, nr;  // the register tile
    int kc, mc;  // the cache blocking: kc steps of K, mc rows of A; equal, and a multiple of mr (sgemm_packed_t)
    MicroKernel micro;
    bool (*runs_here)();  // the CPU (and OS) support its instructions
};

extern const GemmKernel kGemmAvx512;  // gemm_kernel_avx512.cpp (x86-64 only)
extern const GemmKernel kGemmAvx2;    // gemm_kernel_avx2.cpp (x86-64 only)
extern const GemmKernel kGemmPortable;

const GemmKernel& active_gemm_kernel();

}  // namespace nst::cpu
