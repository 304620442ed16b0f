// Pieces shared by the register-tiled CUDA kernels (conv2d_ladder.cu, gram_ladder.cu): 64x64 block tiles,
// 256 threads, each thread accumulating a 4x4 piece of the block in registers.
#pragma once
#include "kernels/shapes.h"

namespace nst::cuda {

constexpr int kTileM = 64, kTileN = 64;

// acc += As[kk][tr*4 .. +3] ⊗ Bs[kk][tc*4 .. +3] for kk in [0, depth): both tiles are stored k-major in
// shared memory, so each step is two float4 reads for 16 multiply-adds.
template <int depth>
__device__ __forceinline__ void accumulate_4x4(const float (*As)[kTileM], const float (*Bs)[kTileN], int tr, int tc,
                                               float (&acc)[4][4]) {
#pragma unroll
    for (int kk = 0; kk < depth; ++kk) {
        const float4 a = *reinterpret_cast<const float4*>(&As[kk][tr * 4]);
        const float4 b = *reinterpret_cast<const float4*>(&Bs[kk][tc * 4]);
        const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
}

// The gather of the implicit-GEMM kernels (conv2d_ladder.cu): element (gk, j) of X, zero outside X and in
// the padding. It is implicit_gemm_x_offset (shapes.h: the readable spec, tested on the CPU in
// tests/test_index_math.cpp) split in two, so that the gather itself is adds and compares. Each thread
// loads one column j = (n, p, q) of the B tile, the same for the whole k loop, decoded once before it;
// and 4 consecutive rows gk = (c, r, t) per k-step, the first decoded with 32-bit arithmetic, the next
// three by stepping (igemm_next_row). x[corner + offset] is the element the spec names, so results are
// bit-identical to computing the spec for each element.
struct IgemmColumn {
    long long corner;  // n·C·H·W + h0·W + w0: the window's top-left corner (may lie in the padding)
    int h0, w0;        // p·stride − pad, q·stride − pad
    bool valid;        // j < N·P·Q
};

__device__ __forceinline__ IgemmColumn igemm_column(const ConvShape& s, long long NPQ, long long j) {
    const int Q = s.Q(), PQ = s.P() * Q;
    const long long n = j / PQ;
    const int pq = int(j - n * PQ), p = pq / Q, q = pq - p * Q;
    const int h0 = p * s.stride_h - s.pad_h, w0 = q * s.stride_w - s.pad_w;
    return {n * s.C * s.H * s.W + (long long)h0 * s.W + w0, h0, w0, j < NPQ};
}

struct IgemmRow {
    long long offset;  // c·H·W + r·W + t
    int gk, r, t;
};

__device__ __forceinline__ IgemmRow igemm_row(const ConvShape& s, int gk) {
    const int RS = s.R * s.S, c = gk / RS, rt = gk - c * RS, r = rt / s.S, t = rt - r * s.S;
    return {(long long)c * s.H * s.W + r * s.W + t, gk, r, t};
}

// Row gk + 1: t + 1, carrying into r and then c.
__device__ __forceinline__ void igemm_next_row(const ConvShape& s, IgemmRow& row) {
    ++row.gk;
    ++row.t;
    ++row.offset;
    if (row.t == s.S) {
        row.t = 0;
        ++row.r;
        row.offset += s.W - s.S;  // (r, S) -> (r + 1, 0)
        if (row.r == s.R) {
            row.r = 0;
            row.offset += (long long)(s.H - s.R) * s.W;  // (c, R, 0) -> (c + 1, 0, 0)
        }
    }
}

__device__ __forceinline__ float gather_x(const float* __restrict__ x, const ConvShape& s, int CRS,
                                          const IgemmColumn& col, const IgemmRow& row) {
    const int h = col.h0 + row.r, w = col.w0 + row.t;
    const bool in = col.valid && row.gk < CRS && h >= 0 && h < s.H && w >= 0 && w < s.W;
    return in ? x[col.corner + row.offset] : 0.f;
}

}  // namespace nst::cuda

// ---- TF32 tensor cores (WMMA m16n16k8), for the *_tf32 kernels; callers compile them for sm_80+ only ----
#include <mma.h>

// Whether this compilation pass has TF32 tensor cores: sm_80 or newer under nvcc; always in the
// CUDA-on-CPU build, whose WMMA model (cuda_on_cpu/include/mma.h) stands for an sm_90 device.
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(NST_CUDA_EMULATION)
#define NST_DEVICE_HAS_TF32 1
#else
#define NST_DEVICE_HAS_TF32 0
#endif

namespace nst::cuda {

using Tf32Acc = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float>;

// One k-step of a warp's 32x32 piece: acc[i][j] += A(rows 16i..) · B(columns 16j..). a[i] points at the
// 16x8 row-major A tile i (leading dimension lda); b[j] at the 8x16 B tile j, laid out as LayoutB.
template <class LayoutB>
__device__ __forceinline__ void warp_mma_32x32(Tf32Acc (&acc)[2][2], const float* const (&a)[2], unsigned lda,
                                               const float* const (&b)[2], unsigned ldb) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LayoutB> fb[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], a[i], lda);
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], b[j], ldb);
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
}

// Zeroes a warp's accumulators; stores them row-major into c (leading dimension ldc), piece (i, j) at
// c + 16 i ldc + 16 j.
__device__ __forceinline__ void warp_zero_32x32(Tf32Acc (&acc)[2][2]) {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.f);
}
__device__ __forceinline__ void warp_store_32x32(const Tf32Acc (&acc)[2][2], float* c, unsigned ldc) {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            nvcuda::wmma::store_matrix_sync(c + 16 * i * ldc + 16 * j, acc[i][j], ldc, nvcuda::wmma::mem_row_major);
}

}  // namespace nst::cuda
