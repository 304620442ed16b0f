// Gram ladder (issue #6): G = α F Fᵀ per image, F the (C, HW) view of the features; cuBLAS is variant 0
// and "naive" (gram.cu) variant 1; numbering as in docs/kernels.md.
//   2 "tiled"      16x16 tiles of G, F's columns through shared memory 16 at a time.
//   3 "syrk"       64x64 register-tiled blocks (4x4 outputs per thread), and only the blocks on or
//                  above the diagonal: G is symmetric, so each block also writes its mirror. Half the work.
//   4 "syrk_tf32"  the same triangle on tensor cores (WMMA m16n16k8, TF32 inputs, fp32 accumulation;
//                  about 1e-3 relative error). sm_80 or newer.
//   5 "syrk_mma_tf32"  the triangle through mma.sync m16n8k8 TF32 with cp.async double buffering and
//                  conflict-free fragment loads (mma_tile.cuh); split-K aimed at 4 blocks per SM. Its
//                  backward runs dF = S F through mma.sync too (the only rung whose backward is TF32).
// Split-K, rungs 2-4: C×C alone gives too few blocks for the early layers (relu1_1 at 512 px, C = 64:
// one 64x64 block would loop over all 262144 columns), so H·W is split over blocks too (grid z = N ×
// splits, see split_k). Each split writes its unscaled partial C×C tile into the workspace, and a small
// kernel sums the splits in a fixed order (deterministic, no atomics), scales, and mirrors the triangle.
// With one split the kernels write G directly, as before.
// Backward: S = α (dG + dGᵀ) (one small kernel), then dF = S F with the 64x64 register-tiled GEMM of
// variant 3 in fp32 (rungs 2-4: only their forward differs in precision), or through mma.sync (rung 5).
#include <mma.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/mma_tile.cuh"
#include "kernels/cuda/register_tile.cuh"

namespace nst::cuda {
namespace {

// ---- split-K over H·W (rungs 2-4) ----
// Block z of a Gram grid is (image n, split): n = z / splits; split `part` covers columns
// [part·len, min((part+1)·len, HW)). With splits > 1, output z is partial tile z of the workspace.
struct SplitK {
    int splits = 1;
    long long len = 0;  // columns per split, a multiple of 64 (aligned, coalesced starts)
};

// Enough blocks to keep a 132-SM GPU (H100) busy twice over, but each split at least kMinSplitCols
// columns (below that the partial sums cost more than they save) and at most kMaxSplits (workspace).
// Fixed numbers rather than the device's SM count, so the result does not depend on the card.
constexpr long long kTargetBlocks = 2 * 132, kMinSplitCols = 256, kMaxSplits = 256;

SplitK split_k(const GramShape& s, long long tiles, long long target_blocks = kTargetBlocks) {
    const long long blocks = (long long)s.N * tiles;
    if (blocks <= 0 || s.HW < 2 * kMinSplitCols) return {1, s.HW};
    long long splits = (target_blocks + blocks - 1) / blocks;
    splits = std::min({splits, kMaxSplits, s.HW / kMinSplitCols, 65535LL / s.N});
    if (splits <= 1) return {1, s.HW};
    const long long len = ((s.HW + splits - 1) / splits + 63) / 64 * 64;
    return {int((s.HW + len - 1) / len), len};  // rounding len up may leave fewer, never empty, splits
}

// The columns of block z's split.
__device__ __forceinline__ void split_range(long long HW, int splits, long long len, long long& kb, long long& ke) {
    kb = (long long)(blockIdx.z % splits) * len;
    ke = kb + len < HW ? kb + len : HW;
}

// G[n] = scale · Σ_part partial[n][part], summed in split order. `triangle`: only 64x64 blocks on or
// above the diagonal were computed (rungs 3, 4), so an entry below reads its mirror.
__global__ void gram_reduce_splits_kernel(const float* __restrict__ partial, float* __restrict__ g, int C, int splits,
                                          long long total, float scale, bool triangle) {
    const long long CC = (long long)C * C;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
        const long long n = e / CC;
        int i = int((e / C) % C), j = int(e % C);
        if (triangle && i / kTileM > j / kTileN) {
            const int t = i; i = j; j = t;
        }
        const float* p = partial + n * splits * CC + (long long)i * C + j;
        float acc = 0.f;
        for (int part = 0; part < splits; ++part) acc += p[part * CC];
        g[e] = acc * scale;
    }
}

// Where a Gram kernel writes: G itself with one split, else the workspace, to be reduced into G.
float* gram_output(float* g, const GramShape& s, const SplitK& sk) {
    if (sk.splits == 1) return g;
    return static_cast<float*>(workspace(sizeof(float) * size_t(sk.splits) * size_t(s.N) * size_t(s.C) * size_t(s.C)));
}
void gram_reduce_splits(const float* partial, float* g, const GramShape& s, const SplitK& sk, bool triangle) {
    if (sk.splits == 1) return;
    const long long total = (long long)s.N * s.C * s.C;
    NST_LAUNCH(gram_reduce_splits_kernel, grid_for(total), 256, 0, stream())(partial, g, s.C, sk.splits, total,
                                                                             float(s.scale()), triangle);
    NST_CUDA_CHECK_LAUNCH();
}

// ---- variant 2 ----
constexpr int kT = 16;

__global__ void gram_tiled_kernel(const float* __restrict__ f, float* __restrict__ g, int C, long long HW, float scale,
                                  int splits, long long len) {
    __shared__ float Fi[kT][kT + 1], Fj[kT][kT + 1];
    const int n = blockIdx.z / splits, i0 = blockIdx.y * kT, j0 = blockIdx.x * kT, tx = threadIdx.x, ty = threadIdx.y;
    const float* F = f + (long long)n * C * HW;
    long long kb, ke;
    split_range(HW, splits, len, kb, ke);
    float acc = 0.f;
    for (long long p0 = kb; p0 < ke; p0 += kT) {
        const long long p = p0 + tx;
        Fi[ty][tx] = (i0 + ty < C && p < ke) ? F[(i0 + ty) * HW + p] : 0.f;
        Fj[ty][tx] = (j0 + ty < C && p < ke) ? F[(j0 + ty) * HW + p] : 0.f;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kT; ++k) acc += Fi[ty][k] * Fj[tx][k];
        __syncthreads();
    }
    if (i0 + ty < C && j0 + tx < C) g[((long long)blockIdx.z * C + i0 + ty) * C + j0 + tx] = acc * scale;
}

// ---- variant 3 and the backward: register-tiled GEMM, 64x64 blocks, 256 threads, 4x4 each ----
// C[M, N] = alpha · A[M, K] · B, where B is Bᵀ stored (N, K) when b_transposed (the Gram: A = B = F) or
// stored (K, N) otherwise (the backward: S F). Batched over blockIdx.z / splits with the given strides;
// output z at Cm + z·sc, over K-columns split `blockIdx.z % splits` (split-K above; 1 in the backward).
// `upper`: only blocks with block column >= block row run, and with one split each writes its transpose too.
constexpr int kBM = kTileM, kBN = kTileN, kBK = 16;

__global__ void __launch_bounds__(256) gemm_rt_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                                      float* __restrict__ Cm, int M, int N, long long K, float alpha,
                                                      bool b_transposed, bool upper, long long sa, long long sb,
                                                      long long sc, int splits, long long len) {
    if (upper && blockIdx.x < blockIdx.y) return;
    __shared__ __align__(16) float As[kBK][kBM];
    __shared__ __align__(16) float Bs[kBK][kBN];
    A += (blockIdx.z / splits) * sa;
    B += (blockIdx.z / splits) * sb;
    Cm += blockIdx.z * sc;
    long long kb, ke;
    split_range(K, splits, len, kb, ke);
    const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN, tid = threadIdx.x;
    const int tr = tid / 16, tc = tid % 16;
    float acc[4][4] = {};
    for (long long k0 = kb; k0 < ke; k0 += kBK) {
        // A tile: 64 rows x 16: thread loads row tid/4, columns (tid%4)*4 .. +3 (coalesced along K).
        {
            const int m = tid / 4, kq = (tid % 4) * 4;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const long long k = k0 + kq + i;
                As[kq + i][m] = (m0 + m < M && k < ke) ? A[(long long)(m0 + m) * K + k] : 0.f;
            }
        }
        if (b_transposed) {  // B stored (N, K): same pattern as A
            const int nn = tid / 4, kq = (tid % 4) * 4;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const long long k = k0 + kq + i;
                Bs[kq + i][nn] = (n0 + nn < N && k < ke) ? B[(long long)(n0 + nn) * K + k] : 0.f;
            }
        } else {  // B stored (K, N): row tid/16, columns (tid%16)*4 .. +3
            const int kk = tid / 16, nq = (tid % 16) * 4;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const long long k = k0 + kk;
                Bs[kk][nq + i] = (k < ke && n0 + nq + i < N) ? B[k * N + n0 + nq + i] : 0.f;
            }
        }
        __syncthreads();
        accumulate_4x4<kBK>(As, Bs, tr, tc, acc);
        __syncthreads();
    }
    const bool mirror = upper && splits == 1 && blockIdx.x != blockIdx.y;  // split: the reduction mirrors
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int m = m0 + tr * 4 + i, nn = n0 + tc * 4 + j;
            if (m >= M || nn >= N) continue;
            const float v = alpha * acc[i][j];
            Cm[(long long)m * N + nn] = v;
            if (mirror) Cm[(long long)nn * N + m] = v;  // the mirror block
        }
}

void gemm_rt(const float* A, const float* B, float* C, int M, int N, long long K, float alpha, bool b_transposed,
             bool upper, int batch, long long sa, long long sb, long long sc, SplitK sk = {}) {
    if (sk.splits == 1) sk.len = K;
    const long long z = (long long)batch * sk.splits;
    const dim3 grid((N + kBN - 1) / kBN, (M + kBM - 1) / kBM, unsigned(z));
    if (grid.y > 65535 || z > 65535) throw Error("gram: matrix too large for one grid");
    NST_LAUNCH(gemm_rt_kernel, grid, 256, 0, stream())(A, B, C, M, N, K, alpha, b_transposed, upper, sa, sb, sc,
                                                       sk.splits, sk.len);
    NST_CUDA_CHECK_LAUNCH();
}

// ---- variant 4: the triangle on tensor cores ----
constexpr int kWK = 8, kPad = 4;

__global__ void __launch_bounds__(128) gram_syrk_tf32_kernel(const float* __restrict__ f, float* __restrict__ g, int C,
                                                             long long HW, float scale, int splits, long long len) {
#if NST_DEVICE_HAS_TF32
    using namespace nvcuda;
    if (blockIdx.x < blockIdx.y) return;
    __shared__ __align__(32) float As[kBM][kWK];        // F rows i0.., columns k: row-major (i, k)
    __shared__ __align__(32) float Bs[kBN][kWK];        // F rows j0..: read as Fᵀ, i.e. col-major (k, j)
    __shared__ __align__(32) float Cs[kBM][kBN + kPad];
    const int n = blockIdx.z / splits, i0 = blockIdx.y * kBM, j0 = blockIdx.x * kBN, tid = threadIdx.x;
    const int warp = tid / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;
    const float* F = f + (long long)n * C * HW;
    long long kb, ke;
    split_range(HW, splits, len, kb, ke);
    Tf32Acc acc[2][2];
    warp_zero_32x32(acc);
    for (long long k0 = kb; k0 < ke; k0 += kWK) {
        const int r = tid / 2, kq = (tid % 2) * 4;  // 64 rows x 8 columns, 4 per thread, for each tile
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const long long k = k0 + kq + i;
            As[r][kq + i] = wmma::__float_to_tf32((i0 + r < C && k < ke) ? F[(i0 + r) * HW + k] : 0.f);
            Bs[r][kq + i] = wmma::__float_to_tf32((j0 + r < C && k < ke) ? F[(j0 + r) * HW + k] : 0.f);
        }
        __syncthreads();
        const float* const a[2] = {&As[wm][0], &As[wm + 16][0]};
        const float* const bt[2] = {&Bs[wn][0], &Bs[wn + 16][0]};  // Fᵀ: column-major (k, j)
        warp_mma_32x32<wmma::col_major>(acc, a, kWK, bt, kWK);
        __syncthreads();
    }
    warp_store_32x32(acc, &Cs[wm][wn], kBN + kPad);
    __syncthreads();
    float* G = g + (long long)blockIdx.z * C * C;
    const bool mirror = splits == 1 && blockIdx.x != blockIdx.y;  // split: the reduction mirrors
    for (int e = tid; e < kBM * kBN; e += 128) {
        const int a = e / kBN, c = e % kBN, i = i0 + a, j = j0 + c;
        if (i >= C || j >= C) continue;
        const float v = Cs[a][c] * scale;
        G[(long long)i * C + j] = v;
        if (mirror) G[(long long)j * C + i] = v;
    }
#else
    __trap();  // launched only after checking the device is sm_80 or newer
#endif
}

// ---- variant 5: the triangle through mma.sync m16n8k8 (TF32), mma_tile.cuh ----
// 64x64 blocks of 4 warps (2 x 2, each 32x32), F's columns in stages of 16 through shared memory,
// double-buffered with cp.async (16-byte copies where HW % 4 == 0, else 4 bytes). Both operands are rows
// of F, so both tiles are m-major (A = F rows i0.., B = Fᵀ read as F rows j0..). 20 KB of shared memory
// and few registers, so four blocks fit per SM: split-K aims at 4 x 132 blocks instead of 2 x 132.
constexpr int kGT = 64, kGThreads = 128;
constexpr long long kMmaTargetBlocks = 4 * 132;

struct MmaGramSmem {
    float As[2][kGT][kKStride];
    float Bs[2][kGT][kKStride];
};

__device__ __forceinline__ void mma_gram_load_rows(float (*tile)[kKStride], const float* __restrict__ F, int C,
                                                   long long HW, int r0, long long k0, long long ke, bool vec4) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < 2; ++i) {  // 64 rows x 16 columns: two float4 per thread
        const int r = tid / 4 + 32 * i, kq = (tid % 4) * 4;
        const long long k = k0 + kq;  // with vec4, HW % 4 == 0 and k0 % 4 == 0: all four or none
        cp_async_quad(&tile[r][kq], F + (long long)(r0 + r) * HW + k, r0 + r < C ? ke - k : 0, vec4, F);
    }
}

__global__ void __launch_bounds__(kGThreads) gram_syrk_mma_kernel(const float* __restrict__ f, float* __restrict__ g,
                                                                 int C, long long HW, float scale, int splits,
                                                                 long long len, bool vec4) {
    if (blockIdx.x < blockIdx.y) return;
    __shared__ __align__(16) MmaGramSmem sm;
    const int n = blockIdx.z / splits, i0 = blockIdx.y * kGT, j0 = blockIdx.x * kGT, tid = threadIdx.x;
    const int lane = tid % 32, warp = tid / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;
    const float* F = f + (long long)n * C * HW;
    long long kb, ke;
    split_range(HW, splits, len, kb, ke);
    float acc[2][4][4] = {};
    const long long stages = (ke - kb + kMmaK - 1) / kMmaK;
    if (stages > 0) {
        mma_gram_load_rows(sm.As[0], F, C, HW, i0, kb, ke, vec4);
        mma_gram_load_rows(sm.Bs[0], F, C, HW, j0, kb, ke, vec4);
    }
    cp_async_commit();
    for (long long it = 0; it < stages; ++it) {
        const int buf = int(it & 1);
        if (it + 1 < stages) {
            const long long k1 = kb + (it + 1) * kMmaK;
            mma_gram_load_rows(sm.As[buf ^ 1], F, C, HW, i0, k1, ke, vec4);
            mma_gram_load_rows(sm.Bs[buf ^ 1], F, C, HW, j0, k1, ke, vec4);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        warp_mma_stage<2, 4, false>(acc, &sm.As[buf][0][0], &sm.Bs[buf][0][0], kKStride, wm, wn, lane);
        __syncthreads();
    }
    cp_async_wait<0>();
    float* G = g + (long long)blockIdx.z * C * C;
    const bool mirror = splits == 1 && blockIdx.x != blockIdx.y;  // split: the reduction mirrors
#pragma unroll
    for (int a = 0; a < 2; ++a)
#pragma unroll
        for (int c = 0; c < 4; ++c)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int i = i0 + wm + mma_row(a, q, lane), j = j0 + wn + mma_col(c, q, lane);
                if (i >= C || j >= C) continue;
                const float v = acc[a][c][q] * scale;
                G[(long long)i * C + j] = v;
                if (mirror) G[(long long)j * C + i] = v;
            }
}

// The backward of rung 5, dF = S · F (S = α(dG + dGᵀ), C x C; F, C x HW), through the same mma.sync
// stage: block tile BM (64 when C <= 64, else 128) x 128 columns, 8 warps as 2 x 4, S's rows m-major and
// F's rows k-major in shared memory (the convolution's layouts, without the gather), double-buffered.
constexpr int kBN5 = 128, kB5Pitch = kBN5 + 8, kThreads5 = 256;

template <int BM>
struct MmaGemmSmem {
    float As[2][BM][kKStride];
    float Bs[2][kMmaK][kB5Pitch];
};

template <int BM>
__device__ __forceinline__ void mma_gemm_load_stage(MmaGemmSmem<BM>& sm, int buf, const float* __restrict__ A,
                                                    const float* __restrict__ B, int M, int K, long long N, int m0,
                                                    long long n0, int k0, bool a_vec4, bool b_vec4) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < BM / 64; ++i) {  // A: BM x 16
        const int m = tid / 4 + 64 * i, kq = (tid % 4) * 4, gm = m0 + m, gk = k0 + kq;
        cp_async_quad(&sm.As[buf][m][kq], A + (long long)gm * K + gk, gm < M ? K - gk : 0, a_vec4, A);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {  // B: 16 rows x 128 columns, two float4 per thread
        const int kk = tid / 32 + 8 * i, nq = (tid % 32) * 4, gk = k0 + kk;
        const long long gn = n0 + nq;  // with b_vec4, N % 4 == 0: all four or none
        cp_async_quad(&sm.Bs[buf][kk][nq], B + (long long)gk * N + gn, gk < K ? N - gn : 0, b_vec4, B);
    }
}

// Cm[z] (M x N) = A[z] (M x K) · B[z] (K x N), z = blockIdx.z, row-major, batch strides sa, sb, sc.
template <int BM>
__global__ void __launch_bounds__(kThreads5) gemm_nn_mma_kernel(const float* __restrict__ A, const float* __restrict__ B,
                                                               float* __restrict__ Cm, int M, long long N, int K,
                                                               long long sa, long long sb, long long sc, bool a_vec4,
                                                               bool b_vec4) {
    constexpr int MT = BM / 32, NT = 4;
    __shared__ __align__(16) MmaGemmSmem<BM> sm;
    A += blockIdx.z * sa;
    B += blockIdx.z * sb;
    Cm += blockIdx.z * sc;
    const int m0 = blockIdx.y * BM, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const long long n0 = (long long)blockIdx.x * kBN5;
    const int wm = (warp / 4) * (BM / 2), wn = (warp % 4) * 32;
    float acc[MT][NT][4] = {};
    const int stages = (K + kMmaK - 1) / kMmaK;
    mma_gemm_load_stage<BM>(sm, 0, A, B, M, K, N, m0, n0, 0, a_vec4, b_vec4);
    cp_async_commit();
    for (int it = 0; it < stages; ++it) {
        if (it + 1 < stages)
            mma_gemm_load_stage<BM>(sm, (it + 1) & 1, A, B, M, K, N, m0, n0, (it + 1) * kMmaK, a_vec4, b_vec4);
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        warp_mma_stage<MT, NT, true>(acc, &sm.As[it & 1][0][0], &sm.Bs[it & 1][0][0], kB5Pitch, wm, wn, lane);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int m = m0 + wm + mma_row(i, q, lane);
            if (m >= M) continue;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const long long n = n0 + wn + mma_col(j, q, lane);
                if (n < N) Cm[(long long)m * N + n] = acc[i][j][q];
            }
        }
}

// The triangle rungs run T (T + 1) / 2 of their T² blocks.
long long triangle_blocks(int C) {
    const long long T = (C + kBM - 1) / kBM;
    return T * (T + 1) / 2;
}

// S = scale (dG + dGᵀ), per image.
__global__ void symmetrize_kernel(const float* dg, float* S, int C, long long total, float scale) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
        const long long n = e / ((long long)C * C);
        const int i = int((e / C) % C), j = int(e % C);
        const float* D = dg + n * C * C;
        S[e] = scale * (D[(long long)i * C + j] + D[(long long)j * C + i]);
    }
}

// S = α (dG + dGᵀ) per image, in the workspace: the first step of every backward.
const float* symmetrized(const float* dg, const GramShape& s) {
    const long long total = s.N * (long long)s.C * s.C;
    auto* S = static_cast<float*>(workspace(sizeof(float) * size_t(total)));
    NST_LAUNCH(symmetrize_kernel, grid_for(total), 256, 0, stream())(dg, S, s.C, total, float(s.scale()));
    NST_CUDA_CHECK_LAUNCH();
    return S;
}

}  // namespace

void gram_forward_tiled(const float* f, float* g, const GramShape& s) {
    const int T = (s.C + kT - 1) / kT;
    const SplitK sk = split_k(s, (long long)T * T);
    if ((long long)s.N * sk.splits > 65535) throw Error("gram tiled: batch too large for one grid");
    float* out = gram_output(g, s, sk);
    const float scale = sk.splits == 1 ? float(s.scale()) : 1.f;
    NST_LAUNCH(gram_tiled_kernel, dim3(T, T, s.N * sk.splits), dim3(kT, kT), 0, stream())(f, out, s.C, s.HW, scale,
                                                                                        sk.splits, sk.len);
    NST_CUDA_CHECK_LAUNCH();
    gram_reduce_splits(out, g, s, sk, false);
}

void gram_forward_syrk(const float* f, float* g, const GramShape& s) {
    const SplitK sk = split_k(s, triangle_blocks(s.C));
    float* out = gram_output(g, s, sk);
    const float scale = sk.splits == 1 ? float(s.scale()) : 1.f;
    gemm_rt(f, f, out, s.C, s.C, s.HW, scale, true, true, s.N, (long long)s.C * s.HW, (long long)s.C * s.HW,
            (long long)s.C * s.C, sk);
    gram_reduce_splits(out, g, s, sk, true);
}

void gram_forward_syrk_tf32(const float* f, float* g, const GramShape& s) {
    require_tf32_tensor_cores("gram syrk_tf32");
    const SplitK sk = split_k(s, triangle_blocks(s.C));
    const int T = (s.C + kBM - 1) / kBM;
    if (T > 65535 || (long long)s.N * sk.splits > 65535) throw Error("gram syrk_tf32: matrix too large for one grid");
    float* out = gram_output(g, s, sk);
    const float scale = sk.splits == 1 ? float(s.scale()) : 1.f;
    NST_LAUNCH(gram_syrk_tf32_kernel, dim3(T, T, s.N * sk.splits), 128, 0, stream())(f, out, s.C, s.HW, scale,
                                                                                    sk.splits, sk.len);
    NST_CUDA_CHECK_LAUNCH();
    gram_reduce_splits(out, g, s, sk, true);
}

void gram_forward_syrk_mma_tf32(const float* f, float* g, const GramShape& s) {
    require_tf32_tensor_cores("gram syrk_mma_tf32");
    const SplitK sk = split_k(s, triangle_blocks(s.C), kMmaTargetBlocks);
    const int T = (s.C + kGT - 1) / kGT;
    if (T > 65535 || (long long)s.N * sk.splits > 65535) throw Error("gram syrk_mma_tf32: matrix too large for one grid");
    float* out = gram_output(g, s, sk);
    const float scale = sk.splits == 1 ? float(s.scale()) : 1.f;
    const bool vec4 = s.HW % 4 == 0 && reinterpret_cast<uintptr_t>(f) % 16 == 0;
    NST_LAUNCH(gram_syrk_mma_kernel, dim3(T, T, s.N * sk.splits), kGThreads, 0, stream())(f, out, s.C, s.HW, scale,
                                                                                         sk.splits, sk.len, vec4);
    NST_CUDA_CHECK_LAUNCH();
    gram_reduce_splits(out, g, s, sk, true);
}

void gram_backward_mma_tf32(const float* f, const float* dg, float* df, const GramShape& s) {
    require_tf32_tensor_cores("gram syrk_mma_tf32 backward");
    const long long CC = (long long)s.C * s.C;
    const float* S = symmetrized(dg, s);
    const int BM = s.C <= 64 ? 64 : 128;
    const long long gx = (s.HW + kBN5 - 1) / kBN5, gy = (s.C + BM - 1) / BM;
    if (gx > 2147483647LL || gy > 65535 || s.N > 65535) throw Error("gram syrk_mma_tf32 backward: shape too large for one grid");
    const dim3 grid{unsigned(gx), unsigned(gy), unsigned(s.N)};
    const bool a_vec4 = s.C % 4 == 0, b_vec4 = s.HW % 4 == 0 && reinterpret_cast<uintptr_t>(f) % 16 == 0;
    const long long sf = (long long)s.C * s.HW;
    if (BM == 64)
        NST_LAUNCH(gemm_nn_mma_kernel<64>, grid, kThreads5, 0, stream())(S, f, df, s.C, s.HW, s.C, CC, sf, sf, a_vec4, b_vec4);
    else
        NST_LAUNCH(gemm_nn_mma_kernel<128>, grid, kThreads5, 0, stream())(S, f, df, s.C, s.HW, s.C, CC, sf, sf, a_vec4, b_vec4);
    NST_CUDA_CHECK_LAUNCH();
}

void gram_backward_gemm(const float* f, const float* dg, float* df, const GramShape& s) {
    const long long CC = (long long)s.C * s.C;
    const float* S = symmetrized(dg, s);
    // dF (C, HW) = S (C, C) · F (C, HW)
    if (s.HW > 2147483647LL) throw Error("gram backward: HW too large");
    gemm_rt(S, f, df, s.C, int(s.HW), s.C, 1.f, false, false, s.N, CC, (long long)s.C * s.HW, (long long)s.C * s.HW);
}

}  // namespace nst::cuda
