// The warp-level inner loop of the mma rungs (conv2d "igemm_mma_tf32", gram "syrk_mma_tf32"): a warp's
// (16·MT) x (8·NT) piece of a block tile, accumulated with mma.sync m16n8k8 TF32 (tensor_core.cuh) from
// operand tiles in shared memory, fragments loaded with plain 32-bit shared loads.
//
// Shared-memory layouts, chosen so that every fragment load of a warp hits 32 different banks:
//   A, m-major:  As[m][k], row stride kKStride = 20 floats (16 + 4 pad). a0 = A[g][t] is at g·20 + t:
//                banks {0..3, 20..23, 8..11, 28..31, 16..19, 4..7, 24..27, 12..15}, all distinct; rows stay
//                16-byte aligned (80 bytes) for 16-byte cp.async.
//   B, n-major:  Bs[n][k], same stride (the Gram, whose B = Fᵀ is read from F's rows).
//   B, k-major:  Bs[k][n], row stride BN + 8: b0 = B[t][g] at t·(BN+8) + g, banks 8t + g, distinct for
//                BN a multiple of 32 (the convolution, whose B = the gathered X has pixels contiguous).
// Operands are stored as fp32 and handed to mma.sync as they are: the tensor core reads the top 19 bits
// of each (TF32 by truncation). Rounding first (cvt.rna, tensor_core.cuh's to_tf32) costs one instruction
// per fragment register, 48 of a warp's ~250 instructions per stage, for about half the error; the
// errors of both are in docs/kernels.md.
#pragma once
#include "kernels/cuda/tensor_core.cuh"

namespace nst::cuda {

__device__ __forceinline__ uint32_t tf32_bits(float x) { return __float_as_uint(x); }

constexpr int kMmaK = 16;                // k per shared-memory stage (two m16n8k8 steps)
constexpr int kKStride = kMmaK + 4;      // row stride of the m-major / n-major tiles

// acc[i][j] += A(rows wm + 16i ..) · B(columns wn + 8j ..) over the stage's kMmaK columns of k.
// As: m-major [rows][kKStride]. Bs: n-major [cols][kKStride] when !BKMajor, else k-major [kMmaK][ldb].
template <int MT, int NT, bool BKMajor>
__device__ __forceinline__ void warp_mma_stage(float (&acc)[MT][NT][4], const float* __restrict__ As,
                                               const float* __restrict__ Bs, int ldb, int wm, int wn, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int k8 = 0; k8 < kMmaK; k8 += 8) {
        uint32_t a[MT][4], b[NT][2];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            const float* p = As + (wm + 16 * i + g) * kKStride + k8 + t;
            a[i][0] = tf32_bits(p[0]);
            a[i][1] = tf32_bits(p[8 * kKStride]);
            a[i][2] = tf32_bits(p[4]);
            a[i][3] = tf32_bits(p[8 * kKStride + 4]);
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            if constexpr (BKMajor) {
                const float* p = Bs + (k8 + t) * ldb + wn + 8 * j + g;
                b[j][0] = tf32_bits(p[0]);
                b[j][1] = tf32_bits(p[4 * ldb]);
            } else {
                const float* p = Bs + (wn + 8 * j + g) * kKStride + k8 + t;
                b[j][0] = tf32_bits(p[0]);
                b[j][1] = tf32_bits(p[4]);
            }
        }
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) mma_tf32_m16n8k8(acc[i][j], a[i], b[j]);
    }
}

// Four consecutive floats src[0..3] -> dst[0..3] of a shared tile with cp.async, of which the first
// `avail` (0..4) are read and the rest zero-filled: one 16-byte copy where `vec4` (the caller's promise
// that src is 16-byte aligned and avail is 0 or 4), else four 4-byte copies. `any` is a valid device
// pointer standing in for src where nothing is read.
__device__ __forceinline__ void cp_async_quad(float* dst, const float* src, long long avail, bool vec4, const float* any) {
    if (vec4) {
        cp_async<16>(dst, avail > 0 ? src : any, avail > 0 ? 16 : 0);
        return;
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) cp_async<4>(dst + e, e < avail ? src + e : any, e < avail ? 4 : 0);
}

// Where accumulator element q of tile (i, j) lies in the warp's piece: row 16i + g + 8(q/2), column
// 8j + 2t + q%2 (tensor_core.cuh's C layout).
__device__ __forceinline__ int mma_row(int i, int q, int lane) { return 16 * i + (lane >> 2) + 8 * (q >> 1); }
__device__ __forceinline__ int mma_col(int j, int q, int lane) { return 8 * j + 2 * (lane & 3) + (q & 1); }

}  // namespace nst::cuda
