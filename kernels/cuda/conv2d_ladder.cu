// conv2d ladder (issue #6), from naive to fast; numbering as in docs/kernels.md, with cuDNN as variant 0
// and "naive" (conv2d.cu) as variant 1:
//   2 "smem"        direct 3x3 stride-1 convolution: an 18x18 input tile and 8 filters in shared memory,
//                   each thread 8 outputs (one pixel, 8 channels). Other shapes: the naive kernel.
//   3 "igemm"       implicit GEMM y[K, NPQ] = W[K, CRS] · X[CRS, NPQ] (X gathered on the fly, never
//                   stored): 64x64 block tiles, 16-deep k steps through shared memory, 4x4 outputs per
//                   thread in registers, float4 loads of W where rows are 16-byte aligned. Any shape;
//                   3x3 stride-1 layers with K <= 16 (conv1_1's backward-data) on the thin direct kernel.
//   4 "igemm_tf32"  the same tiling on tensor cores (WMMA m16n16k8, TF32 inputs, fp32 accumulation):
//                   about 1e-3 relative error, stated wherever it is compared or timed. sm_80 or newer.
//   5 "igemm_mma_tf32"  implicit GEMM through mma.sync m16n8k8 TF32 (PTX, not WMMA), 64/128 x 128 block
//                   tiles of 8 warps, cp.async double buffering, conflict-free fragment loads; layers
//                   with K <= 16 (conv1_1's backward-data) on the thin direct kernel. sm_80 or newer.
//   6 "igemm128"    rung 3 with 128x128 block tiles, 8x8 outputs per thread, k steps of 8 through two
//                   shared buffers with a register prefetch (fp32); grids under one wave on rung 3.
// backward-data of a stride-1 conv is a forward conv of dy with the flipped, transposed filters
// (shapes.h: transposed_conv), so variants 2-4 run their forward kernel on it; the flipped filters are
// made on the fly into the workspace, or once with prepare() for frozen weights (prepared layout:
// [w (K,C,R,S) | w' (C,K,R,S)]). Stride > 1 backward-data and the weight/bias gradients use the naive kernels
// (style transfer never needs the weight gradients).
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

// wt[c][k][r][t] = w[k][c][R-1-r][S-1-t]
__global__ void flip_transpose_kernel(const float* w, float* wt, int K, int C, int R, int S) {
    const long long total = (long long)K * C * R * S;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
        const int t = int(i % S), r = int((i / S) % R), c = int((i / (R * S)) % C);
        const int k = int(i / ((long long)R * S * C));
        wt[(((long long)c * K + k) * R + (R - 1 - r)) * S + (S - 1 - t)] = w[i];
    }
}

void flip_transpose(const float* w, float* wt, const ConvShape& s) {
    NST_LAUNCH(flip_transpose_kernel, grid_for(s.w_size()), 256, 0, stream())(w, wt, s.K, s.C, s.R, s.S);
    NST_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------
// variant 2: shared-memory tiled direct 3x3
constexpr int kT2 = 16, kKB2 = 8;

__global__ void __launch_bounds__(kT2* kT2) conv3x3_smem_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                               const float* __restrict__ b, float* __restrict__ y, int C,
                                                               int K, int H, int W, bool relu) {
    __shared__ float tile[kT2 + 2][kT2 + 2];
    __shared__ float wsh[kKB2][9];
    const int kblocks = (K + kKB2 - 1) / kKB2;
    const int n = blockIdx.z / kblocks, k0 = (blockIdx.z % kblocks) * kKB2;
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kT2 + tx;
    const int q = blockIdx.x * kT2 + tx, p = blockIdx.y * kT2 + ty;
    float acc[kKB2];
#pragma unroll
    for (int i = 0; i < kKB2; ++i) acc[i] = 0.f;
    for (int c = 0; c < C; ++c) {
        const float* xc = x + ((long long)n * C + c) * H * W;
        for (int i = tid; i < (kT2 + 2) * (kT2 + 2); i += kT2 * kT2) {
            const int r = i / (kT2 + 2), cc = i % (kT2 + 2);
            const int h = blockIdx.y * kT2 + r - 1, ww = blockIdx.x * kT2 + cc - 1;
            tile[r][cc] = (h >= 0 && h < H && ww >= 0 && ww < W) ? xc[(long long)h * W + ww] : 0.f;
        }
        if (tid < kKB2 * 9) {
            const int kk = tid / 9, j = tid % 9;
            wsh[kk][j] = (k0 + kk < K) ? w[((long long)(k0 + kk) * C + c) * 9 + j] : 0.f;
        }
        __syncthreads();
        float v[9];
#pragma unroll
        for (int r = 0; r < 3; ++r)
#pragma unroll
            for (int t = 0; t < 3; ++t) v[r * 3 + t] = tile[ty + r][tx + t];
#pragma unroll
        for (int kk = 0; kk < kKB2; ++kk)
#pragma unroll
            for (int j = 0; j < 9; ++j) acc[kk] += v[j] * wsh[kk][j];
        __syncthreads();
    }
    if (p >= H || q >= W) return;
#pragma unroll
    for (int kk = 0; kk < kKB2; ++kk)
        if (k0 + kk < K) {
            const float v = acc[kk] + (b ? b[k0 + kk] : 0.f);
            y[((long long)n * K + k0 + kk) * H * W + (long long)p * W + q] = relu_if(relu, v);
        }
}

void conv3x3_smem(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    const long long z = (long long)s.N * ((s.K + kKB2 - 1) / kKB2);
    if (z > 65535) throw Error("conv2d smem: batch x channel blocks " + std::to_string(z) + " exceed the grid limit");
    const dim3 grid((s.W + kT2 - 1) / kT2, (s.H + kT2 - 1) / kT2, unsigned(z));
    NST_LAUNCH(conv3x3_smem_kernel, grid, dim3(kT2, kT2), 0, stream())(x, w, b, y, s.C, s.K, s.H, s.W, s.relu);
    NST_CUDA_CHECK_LAUNCH();
}

// Few output channels (conv1_1's backward-data has K' = 3) would leave almost all of a 64-row tile
// idle in rungs 3 and 5: a 3x3 stride-1 layer with K <= 16 goes to a direct kernel instead, in fp32.
// Rung 2's kernel took 0.22 ms for conv1_1's backward-data at 512x512 on an H200 (against 0.75 ms on
// igemm, 2026-11-28; cuDNN's best 0.07 ms at 512x341): 8 filters per block where there are 3, and one
// input channel per barrier, 72 FMAs per thread between two barriers. The thin kernel below gives each
// thread every filter of one pixel (KB = 4, 8 or 16 of them, the fewest that hold K) and takes 8 input
// channels per barrier: 8 x 9 x KB FMAs per thread between barriers, the filters read as broadcasts.
bool few_channels_direct(const ConvShape& s) { return s.K <= 16 && is_3x3_same(s); }

constexpr int kThinW = 32, kThinH = 8, kThinC = 8;  // a block: 32 x 8 pixels, 8 input channels per stage

template <int KB>
__global__ void __launch_bounds__(kThinW* kThinH) conv3x3_thin_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                                     const float* __restrict__ b, float* __restrict__ y,
                                                                     int C, int K, int H, int W, bool relu) {
    __shared__ float tile[kThinC][kThinH + 2][kThinW + 2];  // the 8 channels' inputs with a one-pixel halo
    __shared__ __align__(16) float wsh[kThinC][9][KB];      // [channel][tap][filter]: a thread reads all KB
    const int tid = threadIdx.x, tx = tid % kThinW, ty = tid / kThinW, n = blockIdx.z;
    const int q0 = blockIdx.x * kThinW, p0 = blockIdx.y * kThinH;
    constexpr int kPlane = (kThinH + 2) * (kThinW + 2);
    float acc[KB];
#pragma unroll
    for (int k = 0; k < KB; ++k) acc[k] = 0.f;
    for (int c0 = 0; c0 < C; c0 += kThinC) {
        for (int i = tid; i < kThinC * kPlane; i += kThinW * kThinH) {  // consecutive threads, consecutive columns
            const int cc = i / kPlane, r = (i % kPlane) / (kThinW + 2), col = i % (kThinW + 2);
            const int c = c0 + cc, h = p0 + r - 1, ww = q0 + col - 1;
            tile[cc][r][col] = (c < C && h >= 0 && h < H && ww >= 0 && ww < W) ? x[((long long)n * C + c) * H * W + (long long)h * W + ww] : 0.f;
        }
        for (int i = tid; i < kThinC * 9 * KB; i += kThinW * kThinH) {
            const int cc = i / (9 * KB), j = (i / KB) % 9, k = i % KB, c = c0 + cc;
            wsh[cc][j][k] = (c < C && k < K) ? w[((long long)k * C + c) * 9 + j] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int cc = 0; cc < kThinC; ++cc)
#pragma unroll
            for (int j = 0; j < 9; ++j) {
                const float v = tile[cc][ty + j / 3][tx + j % 3];
#pragma unroll
                for (int k = 0; k < KB; ++k) acc[k] += v * wsh[cc][j][k];
            }
        __syncthreads();
    }
    const int p = p0 + ty, q = q0 + tx;
    if (p >= H || q >= W) return;
#pragma unroll
    for (int k = 0; k < KB; ++k)
        if (k < K) {
            const float v = acc[k] + (b ? b[k] : 0.f);
            y[((long long)n * K + k) * H * W + (long long)p * W + q] = relu_if(relu, v);
        }
}

template <int KB> void launch_thin(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    const dim3 grid((s.W + kThinW - 1) / kThinW, (s.H + kThinH - 1) / kThinH, unsigned(s.N));
    NST_LAUNCH(conv3x3_thin_kernel<KB>, grid, kThinW * kThinH, 0, stream())(x, w, b, y, s.C, s.K, s.H, s.W, s.relu);
    NST_CUDA_CHECK_LAUNCH();
}

void conv3x3_thin(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (s.N > 65535) throw Error("conv2d (thin 3x3): batch " + std::to_string(s.N) + " exceeds the grid limit");
    if (s.K <= 4) return launch_thin<4>(x, w, b, y, s);
    if (s.K <= 8) return launch_thin<8>(x, w, b, y, s);
    launch_thin<16>(x, w, b, y, s);
}

// ---------------------------------------------------------------------------------------------------
// variant 3: implicit GEMM, register tiled. Block: 64 (k) x 64 (pixels), 256 threads, 4x4 each.
constexpr int kBM = kTileM, kBN = kTileN, kBK = 16;

// Loads the A tile As[kk][m] (transposed, so threads read consecutive m) and the B tile Bs[kk][j].
// col: this thread's column of X, j0 + tid % 64 (igemm_column, register_tile.cuh).
__device__ __forceinline__ void igemm_load_tiles(const float* __restrict__ x, const float* __restrict__ w,
                                                 const ConvShape& s, const IgemmColumn& col, int CRS, int m0,
                                                 int kk0, bool w_vec4, float (*As)[kBM], float (*Bs)[kBN]) {
    const int tid = threadIdx.x;
    // A: 64 rows x 16 columns of W = 1024 floats, 4 per thread: row tid/4, columns (tid%4)*4 .. +3.
    {
        const int m = tid / 4, kq = (tid % 4) * 4, gm = m0 + m, gk = kk0 + kq;
        float v[4] = {0.f, 0.f, 0.f, 0.f};
        if (gm < s.K) {
            const float* row = w + (long long)gm * CRS;
            if (w_vec4 && gk + 3 < CRS) {
                const float4 f = *reinterpret_cast<const float4*>(row + gk);
                v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
            } else {
#pragma unroll
                for (int i = 0; i < 4; ++i) v[i] = (gk + i < CRS) ? row[gk + i] : 0.f;
            }
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) As[kq + i][m] = v[i];
    }
    // B: 16 rows (c,r,t) x 64 pixels, gathered: 4 per thread, pixel tid%64, rows (tid/64)*4 .. +3 (a warp
    // reads 32 consecutive pixels of one row).
    {
        const int jb = tid % kBN, kk = (tid / kBN) * 4;
        IgemmRow row = igemm_row(s, kk0 + kk);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            if (i > 0) igemm_next_row(s, row);
            Bs[kk + i][jb] = gather_x(x, s, CRS, col, row);
        }
    }
}

__global__ void __launch_bounds__(256) conv_igemm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                        const float* __restrict__ b, float* __restrict__ y, ConvShape s,
                                                        bool w_vec4) {
    __shared__ __align__(16) float As[kBK][kBM];
    __shared__ __align__(16) float Bs[kBK][kBN];
    const int CRS = s.C * s.R * s.S, PQ = s.P() * s.Q();
    const long long NPQ = (long long)s.N * PQ;
    const int m0 = blockIdx.y * kBM;
    const long long j0 = (long long)blockIdx.x * kBN;
    const int tr = threadIdx.x / 16, tc = threadIdx.x % 16;  // this thread: rows tr*4.., columns tc*4..
    const IgemmColumn col = igemm_column(s, NPQ, j0 + threadIdx.x % kBN);  // the B column this thread loads
    float acc[4][4] = {};
    for (int kk0 = 0; kk0 < CRS; kk0 += kBK) {
        igemm_load_tiles(x, w, s, col, CRS, m0, kk0, w_vec4, As, Bs);
        __syncthreads();
        accumulate_4x4<kBK>(As, Bs, tr, tc, acc);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int k = m0 + tr * 4 + i;
        if (k >= s.K) continue;
        const float bias = b ? b[k] : 0.f;
#pragma unroll
        for (int jx = 0; jx < 4; ++jx) {
            const long long j = j0 + tc * 4 + jx;
            if (j >= NPQ) continue;
            const long long n = j / PQ, pq = j % PQ;
            y[(n * s.K + k) * PQ + pq] = conv_epilogue(acc[i][jx] + bias, s);
        }
    }
}

bool rows_vec4(const float* w, const ConvShape& s) {
    return (s.C * s.R * s.S) % 4 == 0 && (reinterpret_cast<uintptr_t>(w) % 16) == 0;
}

void conv_igemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (few_channels_direct(s)) return conv3x3_thin(x, w, b, y, s);
    const long long NPQ = (long long)s.N * s.P() * s.Q();
    const long long gx = (NPQ + kBN - 1) / kBN, gy = (s.K + kBM - 1) / kBM;
    if (gx > 2147483647LL || gy > 65535) throw Error("conv2d igemm: shape too large for one grid");
    NST_LAUNCH(conv_igemm_kernel, dim3(unsigned(gx), unsigned(gy)), 256, 0, stream())(x, w, b, y, s, rows_vec4(w, s));
    NST_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------
// variant 4: implicit GEMM on tensor cores, TF32. Block 64x64, 4 warps of 32x32 (2x2 WMMA tiles).
constexpr int kTK = 8, kBPad = 8, kCPad = 4;

__global__ void __launch_bounds__(128) conv_igemm_tf32_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                             const float* __restrict__ b, float* __restrict__ y,
                                                             ConvShape s) {
#if NST_DEVICE_HAS_TF32
    using namespace nvcuda;
    __shared__ __align__(32) float As[kBM][kTK];           // row-major (m, kk)
    __shared__ __align__(32) float Bs[kTK][kBN + kBPad];   // row-major (kk, j)
    __shared__ __align__(32) float Cs[kBM][kBN + kCPad];
    const int CRS = s.C * s.R * s.S, PQ = s.P() * s.Q();
    const long long NPQ = (long long)s.N * PQ;
    const int m0 = blockIdx.y * kBM;
    const long long j0 = (long long)blockIdx.x * kBN;
    const int tid = threadIdx.x, warp = tid / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;
    const IgemmColumn col = igemm_column(s, NPQ, j0 + tid % kBN);  // the B column this thread loads
    Tf32Acc acc[2][2];
    warp_zero_32x32(acc);
    for (int kk0 = 0; kk0 < CRS; kk0 += kTK) {
        // A: 64 x 8 = 512 floats, 4 per thread (row tid/2, columns (tid%2)*4..); B: 8 x 64, 4 per thread.
        {
            const int m = tid / 2, kq = (tid % 2) * 4, gm = m0 + m;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int gk = kk0 + kq + i;
                const float v = (gm < s.K && gk < CRS) ? w[(long long)gm * CRS + gk] : 0.f;
                As[m][kq + i] = wmma::__float_to_tf32(v);
            }
            const int jb = tid % kBN, kk = (tid / kBN) * 4;  // pixel tid%64, rows (tid/64)*4 .. +3
            IgemmRow row = igemm_row(s, kk0 + kk);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                if (i > 0) igemm_next_row(s, row);
                Bs[kk + i][jb] = wmma::__float_to_tf32(gather_x(x, s, CRS, col, row));
            }
        }
        __syncthreads();
        const float* const a[2] = {&As[wm][0], &As[wm + 16][0]};
        const float* const bt[2] = {&Bs[0][wn], &Bs[0][wn + 16]};
        warp_mma_32x32<wmma::row_major>(acc, a, kTK, bt, kBN + kBPad);
        __syncthreads();
    }
    warp_store_32x32(acc, &Cs[wm][wn], kBN + kCPad);
    __syncthreads();
    for (int e = tid; e < kBM * kBN; e += 128) {
        const int mi = e / kBN, ji = e % kBN, k = m0 + mi;
        const long long j = j0 + ji;
        if (k >= s.K || j >= NPQ) continue;
        const long long n = j / PQ, pq = j % PQ;
        y[(n * s.K + k) * PQ + pq] = conv_epilogue(Cs[mi][ji] + (b ? b[k] : 0.f), s);
    }
#else
    __trap();  // launched only after checking the device is sm_80 or newer
#endif
}

void conv_igemm_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    require_tf32_tensor_cores("conv2d igemm_tf32");
    const long long NPQ = (long long)s.N * s.P() * s.Q();
    const long long gx = (NPQ + kBN - 1) / kBN, gy = (s.K + kBM - 1) / kBM;
    if (gx > 2147483647LL || gy > 65535) throw Error("conv2d igemm_tf32: shape too large for one grid");
    NST_LAUNCH(conv_igemm_tf32_kernel, dim3(unsigned(gx), unsigned(gy)), 128, 0, stream())(x, w, b, y, s);
    NST_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------
// variant 5: implicit GEMM on tensor cores through mma.sync m16n8k8 (TF32), mma_tile.cuh. Block tile
// BM (output channels: 64 when K <= 64, else 128) x 128 pixels, 8 warps as 2 (M) x 4 (N), each warp
// (BM/2) x 32; k in stages of 16 through a 4-deep cp.async ring in dynamic shared memory (three stages'
// copies in flight while the tensor cores work on the fourth: 74 KB at BM = 128, so two blocks per SM).
// W rows arrive as 16-byte copies where they are 16-byte aligned (CRS % 4 == 0), else 4 bytes at a
// time; X is gathered 4 bytes at a time with zero-fill for the padding (igemm_column / igemm_row, as
// variant 3). Split-K: a grid of fewer blocks than two per SM (conv4_x and conv5_1 at 512 px) also
// splits CRS over blockIdx.z; each split writes its partial tile to the split-K workspace, and a small
// kernel sums the splits in order (deterministic) and adds the bias.
constexpr int kMN = 128, kMThreads = 256, kMBPitch = kMN + 8, kMStages = 4;
constexpr long long kMTargetBlocks = 2 * 132;  // two blocks per SM on a 132-SM card (fixed: results do not depend on the card)
constexpr int kMMinStagesPerSplit = 8;

template <int BM>
struct MmaConvStage {
    float As[BM][kKStride];      // W tile, m-major
    float Bs[kMmaK][kMBPitch];   // gathered X tile, k-major
};
template <int BM> constexpr int mma_conv_smem_bytes() { return kMStages * int(sizeof(MmaConvStage<BM>)); }

// Issues the cp.async copies of one stage: k columns [kk0, kk0 + 16) of W's rows m0.. and X's rows.
template <int BM>
__device__ __forceinline__ void mma_conv_load_stage(MmaConvStage<BM>& st, const float* __restrict__ x,
                                                    const float* __restrict__ w, const ConvShape& s,
                                                    const IgemmColumn& col, int CRS, int m0, int kk0, bool w_vec4) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < BM / 64; ++i) {  // A: BM rows x 16, one float4 per thread per 64 rows
        const int m = tid / 4 + 64 * i, kq = (tid % 4) * 4, gm = m0 + m, gk = kk0 + kq;
        cp_async_quad(&st.As[m][kq], w + (long long)gm * CRS + gk, gm < s.K ? CRS - gk : 0, w_vec4, w);  // CRS % 4 == 0 with w_vec4
    }
    // B: 16 rows (c, r, t) x 128 pixels: pixel tid % 128 (a warp takes 32 consecutive pixels of one
    // row), rows (tid / 128) * 8 .. + 7.
    const int jb = tid % kMN, kb = (tid / kMN) * 8;
    IgemmRow r = igemm_row(s, kk0 + kb);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        if (e > 0) igemm_next_row(s, r);
        const int h = col.h0 + r.r, ww = col.w0 + r.t;
        const bool in = col.valid && r.gk < CRS && h >= 0 && h < s.H && ww >= 0 && ww < s.W;
        cp_async<4>(&st.Bs[kb + e][jb], in ? x + col.corner + r.offset : x, in ? 4 : 0);
    }
}

// y = W·X (+ b) for this block's tile and split; with splits > 1, the unbiased partial goes to
// part[split][k][j] (K x NPQ per split) instead.
template <int BM>
__global__ void __launch_bounds__(kMThreads) conv_mma_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                            const float* __restrict__ b, float* __restrict__ y,
                                                            float* __restrict__ part, ConvShape s, bool w_vec4,
                                                            int stages_per_split) {
    constexpr int MT = BM / 32, NT = 4;  // warp tile (BM/2) x 32
    NST_DYNAMIC_SHARED(smem_bytes, kMStages * sizeof(MmaConvStage<BM>));
    auto* ring = reinterpret_cast<MmaConvStage<BM>*>(smem_bytes);
    const int CRS = s.C * s.R * s.S, PQ = s.P() * s.Q();
    const long long NPQ = (long long)s.N * PQ;
    const int m0 = blockIdx.y * BM;
    const long long j0 = (long long)blockIdx.x * kMN;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int wm = (warp / 4) * (BM / 2), wn = (warp % 4) * 32;
    const IgemmColumn col = igemm_column(s, NPQ, j0 + tid % kMN);
    const int all_stages = (CRS + kMmaK - 1) / kMmaK, first = blockIdx.z * stages_per_split;
    const int stages = stages_per_split < all_stages - first ? stages_per_split : all_stages - first;
    float acc[MT][NT][4] = {};
#pragma unroll
    for (int i = 0; i < kMStages - 1; ++i) {
        if (i < stages) mma_conv_load_stage<BM>(ring[i], x, w, s, col, CRS, m0, (first + i) * kMmaK, w_vec4);
        cp_async_commit();
    }
    for (int it = 0; it < stages; ++it) {
        cp_async_wait<kMStages - 2>();  // this thread's copies of stage `it` have landed...
        __syncthreads();                // ...everyone's, and everyone is done with stage it - 1's buffer
        const int next = it + kMStages - 1;
        if (next < stages) mma_conv_load_stage<BM>(ring[next % kMStages], x, w, s, col, CRS, m0, (first + next) * kMmaK, w_vec4);
        cp_async_commit();  // possibly empty: keeps the count of groups in flight fixed
        const MmaConvStage<BM>& st = ring[it % kMStages];
        warp_mma_stage<MT, NT, true>(acc, &st.As[0][0], &st.Bs[0][0], kMBPitch, wm, wn, lane);
    }
    cp_async_wait<0>();
    const bool split = gridDim.z > 1;
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int k = m0 + wm + mma_row(i, q, lane);
            if (k >= s.K) continue;
            const float bias = (b && !split) ? b[k] : 0.f;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const long long jj = j0 + wn + mma_col(j, q, lane);
                if (jj >= NPQ) continue;
                if (split) {
                    part[((long long)blockIdx.z * s.K + k) * NPQ + jj] = acc[i][j][q];
                } else {
                    const long long n = jj / PQ, pq = jj - n * PQ;
                    y[(n * s.K + k) * PQ + pq] = conv_epilogue(acc[i][j][q] + bias, s);
                }
            }
        }
}

// y[n][k][pq] = Σ_split part[split][k][n·PQ + pq] (in split order) + b[k], then ReLU if relu.
__global__ void conv_reduce_splits_kernel(const float* __restrict__ part, const float* __restrict__ b,
                                          float* __restrict__ y, int K, long long NPQ, int PQ, int splits, bool relu) {
    const long long total = (long long)K * NPQ;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
        const int k = int(e / NPQ);
        const long long j = e - (long long)k * NPQ, n = j / PQ, pq = j - n * PQ;
        float acc = b ? b[k] : 0.f;
        for (int z = 0; z < splits; ++z) acc += part[z * total + e];
        y[(n * K + k) * PQ + pq] = relu_if(relu, acc);
    }
}

template <int BM>
void launch_conv_mma(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    const int CRS = s.C * s.R * s.S;
    const long long NPQ = (long long)s.N * s.P() * s.Q();
    const long long gx = (NPQ + kMN - 1) / kMN, gy = (s.K + BM - 1) / BM;
    if (gx > 2147483647LL || gy > 65535) throw Error("conv2d igemm_mma_tf32: shape too large for one grid");
    // Split-K while the grid is under the target and every split keeps at least kMMinStagesPerSplit stages.
    const int all_stages = (CRS + kMmaK - 1) / kMmaK;
    long long splits = std::max(1LL, std::min(kMTargetBlocks / (gx * gy), (long long)all_stages / kMMinStagesPerSplit));
    splits = std::min(splits, 64LL);
    const int per = int((all_stages + splits - 1) / splits);
    splits = (all_stages + per - 1) / per;  // no empty split
    float* part = nullptr;
    if (splits > 1) part = static_cast<float*>(workspace(sizeof(float) * size_t(splits) * size_t(s.K) * size_t(NPQ), 1));
    static const bool opted_in = [] {  // more than 48 KB of dynamic shared memory must be asked for
        NST_CUDA_CHECK(cudaFuncSetAttribute(conv_mma_kernel<BM>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            mma_conv_smem_bytes<BM>()));
        return true;
    }();
    (void)opted_in;
    const dim3 grid{unsigned(gx), unsigned(gy), unsigned(splits)};
    NST_LAUNCH(conv_mma_kernel<BM>, grid, kMThreads, mma_conv_smem_bytes<BM>(), stream())(x, w, b, y, part, s,
                                                                                         rows_vec4(w, s), per);
    NST_CUDA_CHECK_LAUNCH();
    if (splits > 1) {
        NST_LAUNCH(conv_reduce_splits_kernel, grid_for(s.K * NPQ), 256, 0, stream())(part, b, y, s.K, NPQ,
                                                                                     s.P() * s.Q(), int(splits), s.relu);
        NST_CUDA_CHECK_LAUNCH();
    }
}

void conv_mma_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (few_channels_direct(s)) return conv3x3_thin(x, w, b, y, s);
    require_tf32_tensor_cores("conv2d igemm_mma_tf32");
    if (s.K <= 64)
        launch_conv_mma<64>(x, w, b, y, s);
    else
        launch_conv_mma<128>(x, w, b, y, s);
}

// ---------------------------------------------------------------------------------------------------
// variant 6: implicit GEMM in fp32 with 128x128 block tiles, 8x8 outputs per thread (the review's F1; the
// SGEMM_CUDA "2D blocktiling + vectorised + double-buffered" step). Block: 256 threads, k in steps of 8.
// Each thread owns rows tr*4.. and 64+tr*4.. and columns tc*4.. and 64+tc*4.. of the tile (tr = tid/16,
// tc = tid%16), so its four float4 reads of shared memory per k feed 64 FMAs (rung 3: two for 16). The
// next step's 4 W and 4 X values are fetched into registers before the math and stored into the other
// shared buffer after it, so global latency hides behind 512 FMAs, with one barrier per step. A grid of
// fewer 128x128 tiles than one wave of an H200 (132 SMs: conv4_x and conv5_1 at 512 px) goes to rung 3,
// whose 64x64 tiles fill the card better; both sum each output over k in the same order.
constexpr int kGM = 128, kGN = 128, kGK = 8, kGPitch = kGM + 4;  // A rows padded: the transposed stores spread over all banks
constexpr long long kGOneWave = 132;

struct Igemm128Fetch {
    float a[4], b[4];
};

// This thread's share of k columns [kk0, kk0 + 8): W row tid/2, columns (tid%2)*4 .. +3; X column tid%128
// (col), rows (tid/128)*4 .. +3.
__device__ __forceinline__ void igemm128_fetch(const float* __restrict__ x, const float* __restrict__ w, const ConvShape& s,
                                               const IgemmColumn& col, int CRS, int m0, int kk0, bool w_vec4,
                                               Igemm128Fetch& f) {
    const int tid = threadIdx.x, gm = m0 + tid / 2, gk = kk0 + (tid % 2) * 4;
    if (gm < s.K && w_vec4 && gk + 3 < CRS) {
        const float4 v = *reinterpret_cast<const float4*>(w + (long long)gm * CRS + gk);
        f.a[0] = v.x; f.a[1] = v.y; f.a[2] = v.z; f.a[3] = v.w;
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) f.a[i] = (gm < s.K && gk + i < CRS) ? w[(long long)gm * CRS + gk + i] : 0.f;
    }
    IgemmRow row = igemm_row(s, kk0 + (tid / kGN) * 4);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        if (i > 0) igemm_next_row(s, row);
        f.b[i] = gather_x(x, s, CRS, col, row);
    }
}

__device__ __forceinline__ void igemm128_store(const Igemm128Fetch& f, float (*As)[kGPitch], float (*Bs)[kGN]) {
    const int tid = threadIdx.x, m = tid / 2, kq = (tid % 2) * 4, j = tid % kGN, kb = (tid / kGN) * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) As[kq + i][m] = f.a[i];
#pragma unroll
    for (int i = 0; i < 4; ++i) Bs[kb + i][j] = f.b[i];
}

__global__ void __launch_bounds__(256, 2) conv_igemm128_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                           const float* __restrict__ b, float* __restrict__ y, ConvShape s,
                                                           bool w_vec4) {
    __shared__ __align__(16) float As[2][kGK][kGPitch];
    __shared__ __align__(16) float Bs[2][kGK][kGN];
    const int CRS = s.C * s.R * s.S, PQ = s.P() * s.Q();
    const long long NPQ = (long long)s.N * PQ;
    const int m0 = blockIdx.y * kGM, tr = threadIdx.x / 16, tc = threadIdx.x % 16;
    const long long j0 = (long long)blockIdx.x * kGN;
    const IgemmColumn col = igemm_column(s, NPQ, j0 + threadIdx.x % kGN);
    float acc[8][8] = {};
    Igemm128Fetch f;
    igemm128_fetch(x, w, s, col, CRS, m0, 0, w_vec4, f);
    igemm128_store(f, As[0], Bs[0]);
    __syncthreads();
    int buf = 0;
    for (int kk0 = 0; kk0 < CRS; kk0 += kGK) {
        const bool more = kk0 + kGK < CRS;
        if (more) igemm128_fetch(x, w, s, col, CRS, m0, kk0 + kGK, w_vec4, f);  // in flight during the math
#pragma unroll
        for (int kk = 0; kk < kGK; ++kk) {
            const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][tr * 4]);
            const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + tr * 4]);
            const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tc * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + tc * 4]);
            const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int jj = 0; jj < 8; ++jj) acc[i][jj] += av[i] * bv[jj];
        }
        // The other buffer was last read in the previous step, which ended at a barrier: free to fill.
        if (more) igemm128_store(f, As[buf ^ 1], Bs[buf ^ 1]);
        __syncthreads();
        buf ^= 1;
    }
#pragma unroll
    for (int jj = 0; jj < 8; ++jj) {
        const long long j = j0 + (jj / 4) * 64 + tc * 4 + jj % 4;
        if (j >= NPQ) continue;
        const long long n = j / PQ, pq = j - n * PQ;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int k = m0 + (i / 4) * 64 + tr * 4 + i % 4;
            if (k < s.K) y[(n * s.K + k) * PQ + pq] = conv_epilogue(acc[i][jj] + (b ? b[k] : 0.f), s);
        }
    }
}

void conv_igemm128(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (few_channels_direct(s)) return conv3x3_thin(x, w, b, y, s);
    const long long NPQ = (long long)s.N * s.P() * s.Q();
    const long long gx = (NPQ + kGN - 1) / kGN, gy = (s.K + kGM - 1) / kGM;
    if (gx * gy < kGOneWave) return conv_igemm(x, w, b, y, s);
    if (gx > 2147483647LL || gy > 65535) throw Error("conv2d igemm128: shape too large for one grid");
    NST_LAUNCH(conv_igemm128_kernel, dim3(unsigned(gx), unsigned(gy)), 256, 0, stream())(x, w, b, y, s, rows_vec4(w, s));
    NST_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------
// Shared plumbing: forward with a fallback, backward-data through the transposed conv.
using Forward = void (*)(const float*, const float*, const float*, float*, const ConvShape&);

void backward_data_via(Forward fwd, const float* dy, const float* wt, float* dx, const ConvShape& s) {
    fwd(dy, wt, nullptr, dx, transposed_conv(s));
}

void backward_data_unprepared(Forward fwd, const float* dy, const float* w, float* dx, const ConvShape& s) {
    if (!has_transposed_conv(s)) return conv2d_backward_data_naive(dy, w, dx, s);
    auto* wt = static_cast<float*>(workspace(sizeof(float) * size_t(s.w_size())));
    flip_transpose(w, wt, s);
    backward_data_via(fwd, dy, wt, dx, s);
}

}  // namespace

void conv2d_forward_smem(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (!is_3x3_same(s)) return conv2d_forward_naive(x, w, b, y, s);
    conv3x3_smem(x, w, b, y, s);
}
void conv2d_backward_data_smem(const float* dy, const float* w, float* dx, const ConvShape& s) {
    if (!is_3x3_same(s)) return conv2d_backward_data_naive(dy, w, dx, s);
    backward_data_unprepared(conv2d_forward_smem, dy, w, dx, s);
}

void conv2d_forward_igemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    conv_igemm(x, w, b, y, s);
}
void conv2d_backward_data_igemm(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data_unprepared(conv_igemm, dy, w, dx, s);
}

void conv2d_forward_igemm_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    conv_igemm_tf32(x, w, b, y, s);
}
void conv2d_backward_data_igemm_tf32(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data_unprepared(conv_igemm_tf32, dy, w, dx, s);
}

void conv2d_forward_igemm_mma_tf32(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    conv_mma_tf32(x, w, b, y, s);
}
void conv2d_backward_data_igemm_mma_tf32(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data_unprepared(conv_mma_tf32, dy, w, dx, s);
}

int tf32_kernel_ptx_version() {
    cudaFuncAttributes a{};
    NST_CUDA_CHECK(cudaFuncGetAttributes(&a, conv_mma_kernel<128>));
    return a.ptxVersion;
}

void conv2d_forward_igemm128(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    conv_igemm128(x, w, b, y, s);
}
void conv2d_backward_data_igemm128(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data_unprepared(conv_igemm128, dy, w, dx, s);
}

// Prepared form, shared by the ladder: [w (K,C,R,S) | w' (C,K,R,S)], w' the flipped, transposed filters
// of backward-data, made once instead of on every backward.
int64_t conv2d_prepared_size_flipped(const ConvShape& s) { return has_transposed_conv(s) ? 2 * s.w_size() : 0; }
void conv2d_prepare_flipped(const float* w, float* prepared, const ConvShape& s) {
    NST_CUDA_CHECK(cudaMemcpyAsync(prepared, w, sizeof(float) * size_t(s.w_size()), cudaMemcpyDeviceToDevice, stream()));
    flip_transpose(w, prepared + s.w_size(), s);
}

void conv2d_forward_smem_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s) {
    conv2d_forward_smem(x, p, b, y, s);
}
void conv2d_backward_data_smem_prepared(const float* dy, const float* p, float* dx, const ConvShape& s) {
    backward_data_via(conv2d_forward_smem, dy, p + s.w_size(), dx, s);
}
void conv2d_forward_igemm_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s) {
    conv_igemm(x, p, b, y, s);
}
void conv2d_backward_data_igemm_prepared(const float* dy, const float* p, float* dx, const ConvShape& s) {
    backward_data_via(conv_igemm, dy, p + s.w_size(), dx, s);
}
void conv2d_forward_igemm_tf32_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s) {
    conv_igemm_tf32(x, p, b, y, s);
}
void conv2d_backward_data_igemm_tf32_prepared(const float* dy, const float* p, float* dx, const ConvShape& s) {
    backward_data_via(conv_igemm_tf32, dy, p + s.w_size(), dx, s);
}

void conv2d_forward_igemm_mma_tf32_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s) {
    conv_mma_tf32(x, p, b, y, s);
}
void conv2d_backward_data_igemm_mma_tf32_prepared(const float* dy, const float* p, float* dx, const ConvShape& s) {
    backward_data_via(conv_mma_tf32, dy, p + s.w_size(), dx, s);
}

void conv2d_forward_igemm128_prepared(const float* x, const float* p, const float* b, float* y, const ConvShape& s) {
    conv_igemm128(x, p, b, y, s);
}
void conv2d_backward_data_igemm128_prepared(const float* dy, const float* p, float* dx, const ConvShape& s) {
    backward_data_via(conv_igemm128, dy, p + s.w_size(), dx, s);
}

}  // namespace nst::cuda
