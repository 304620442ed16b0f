// conv2d forward, direct: for stride-1 and stride-2 convs without padding whose input or output has few
// channels, or 3x3 ones of at most 64 (contract in cpu_gemm_kernels.h). The style networks open with a 9x9 conv of 3 channels to 32 and close
// with a 9x9 conv of 32 (or 4) to 3, at full resolution: im2col would copy 81 times the input (a 2048-px
// picture: 1.1 GB per pass) to feed a GEMM whose other side is only 3 wide. Here each output row is
// computed in place from the input rows it needs, which stay in L1/L2:
//
//   y[k, p, q0:q0+32] = b[k] + Σ_{c,r,t} w[k,c,r,t] · x[c, p+r, q0+t : q0+t+32]
//
// Registers: a block of KB <= 8 filters x 32 columns = 16 zmm accumulators; each (c, r, t) loads two
// vectors of x (unaligned, masked at the row's end) and broadcasts KB weights, so 2·KB FMAs per 2 loads.
// Threads split the output rows. AVX-512F only (by target attribute; the rest of the program stays
// baseline x86-64): elsewhere conv2d_forward_direct returns false and the caller uses im2col+GEMM.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/parallel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NST_DIRECT_AVX512 1
#endif

namespace nst::cpu {

bool conv2d_direct_takes(const ConvShape& s) {
    const bool stride = s.stride_h == s.stride_w && (s.stride_h == 1 || s.stride_h == 2);
    const bool thin = s.C <= 4 || s.K <= 8;                                  // im2col's copy dominates
    const bool small_3x3 = s.R == 3 && s.S == 3 && s.C <= 64 && s.K <= 64;  // beats Winograd's transforms here
    return stride && s.pad_h == 0 && s.pad_w == 0 && (thin || small_3x3);
}

bool conv2d_direct_fits(const ConvShape& s) { return conv2d_direct_takes(s) && s.P() >= 1 && s.Q() >= 1; }

#ifdef NST_DIRECT_AVX512
namespace {

// Output row p, columns [q0, q0 + n) (n <= 32), filters [k0, k0 + KB) of one image: x (C,H,W), y (K,P,Q).
// Stride 2 reads 64 input columns as four vectors and keeps the even ones (two permutes).
template <int KB, int STRIDE, int SW>  // SW: the (square) window's side when fixed at compile time (3, 9), else 0
__attribute__((target("avx512f"))) void direct_tile(const float* x, const float* w, const float* b, float* y, const ConvShape& s,
                                                    int k0, int p, int q0, int n) {
    const int Q = s.Q(), RS = s.R * s.S;
    const int64_t CRS = int64_t(s.C) * RS, PQ = int64_t(s.P()) * Q;
    auto mask = [](int count) { return count >= 16 ? __mmask16(0xffff) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1); };
    const __mmask16 m0 = mask(n), m1 = mask(n - 16);
    const int in = STRIDE * (n - 1) + 1;  // input columns the n outputs read, from each tap's start
    const __mmask16 i0 = mask(in), i1 = mask(in - 16), i2 = mask(in - 32), i3 = mask(in - 48);
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc[KB][2];  // every loop over kk unrolled, so that the accumulators live in registers
#pragma GCC unroll 8
    for (int kk = 0; kk < KB; ++kk) acc[kk][0] = acc[kk][1] = _mm512_set1_ps(b ? b[k0 + kk] : 0.0f);
    const int R = SW ? SW : s.R;
    for (int c = 0; c < s.C; ++c)
#pragma GCC unroll 3
        for (int r = 0; r < R; ++r) {
            const float* xr = x + (int64_t(c) * s.H + int64_t(p) * STRIDE + r) * s.W + int64_t(q0) * STRIDE;
            const float* wr = w + int64_t(k0) * CRS + int64_t(c) * RS + int64_t(r) * s.S;
            const int S = SW ? SW : s.S;
#pragma GCC unroll 9
            for (int t = 0; t < S; ++t) {
                __m512 x0, x1;
                if constexpr (STRIDE == 1) {
                    x0 = _mm512_maskz_loadu_ps(m0, xr + t);
                    x1 = _mm512_maskz_loadu_ps(m1, xr + t + 16);
                } else {
                    x0 = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(i0, xr + t), evens, _mm512_maskz_loadu_ps(i1, xr + t + 16));
                    x1 = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(i2, xr + t + 32), evens, _mm512_maskz_loadu_ps(i3, xr + t + 48));
                }
#pragma GCC unroll 8
                for (int kk = 0; kk < KB; ++kk) {
                    const __m512 wv = _mm512_set1_ps(wr[kk * CRS + t]);
                    acc[kk][0] = _mm512_fmadd_ps(wv, x0, acc[kk][0]);
                    acc[kk][1] = _mm512_fmadd_ps(wv, x1, acc[kk][1]);
                }
            }
        }
#pragma GCC unroll 8
    for (int kk = 0; kk < KB; ++kk) {
        float* yr = y + (k0 + kk) * PQ + int64_t(p) * Q + q0;
        if (s.relu) {  // vmaxps(v, +0) returns its second operand for NaN and ±0, as conv_epilogue does
            // (the maskz form: GCC 12's _mm512_max_ps passes an "undefined" vector it then warns about)
            acc[kk][0] = _mm512_maskz_max_ps(__mmask16(0xffff), acc[kk][0], _mm512_setzero_ps());
            acc[kk][1] = _mm512_maskz_max_ps(__mmask16(0xffff), acc[kk][1], _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(yr, m0, acc[kk][0]);
        _mm512_mask_storeu_ps(yr + 16, m1, acc[kk][1]);
    }
}

using TileFn = void (*)(const float*, const float*, const float*, float*, const ConvShape&, int, int, int, int);
template <int ST, int SW> TileFn tile_for(int kb) {
    switch (kb) {
        case 1: return direct_tile<1, ST, SW>;
        case 2: return direct_tile<2, ST, SW>;
        case 3: return direct_tile<3, ST, SW>;
        case 4: return direct_tile<4, ST, SW>;
        case 5: return direct_tile<5, ST, SW>;
        case 6: return direct_tile<6, ST, SW>;
        case 7: return direct_tile<7, ST, SW>;
        default: return direct_tile<8, ST, SW>;
    }
}

template <int ST> TileFn tile_for(int kb, int width) {
    return width == 3 ? tile_for<ST, 3>(kb) : width == 9 ? tile_for<ST, 9>(kb) : tile_for<ST, 0>(kb);  // square windows only
}

// Output row p, all filters: each block of filters sweeps the row (measured faster on Zen 5 than
// sweeping the filter blocks per 32 columns, 243 against 281 ms for the 9x9 3->32 conv at 2048x1536).
void direct_row(const float* x, const float* w, const float* b, float* y, const ConvShape& s, int p) {
    const int Q = s.Q();
    for (int k0 = 0; k0 < s.K; k0 += 8) {
        const int kb = std::min(8, s.K - k0);
        const int side = s.R == s.S ? s.S : 0;
        const TileFn tile = s.stride_w == 1 ? tile_for<1>(kb, side) : tile_for<2>(kb, side);
        for (int q0 = 0; q0 < Q; q0 += 32) tile(x, w, b, y, s, k0, p, q0, std::min(32, Q - q0));
    }
}

// ---- backward-weight for few filters ----
// dW[k, c, r, t] = Σ_{n,p,q} dy[n, k, p, q] · x[n, c, p + r, q + t]   (stride 1, no padding)
// One (channel, filter row) pair per call, KB <= 3 filters: KB·SW accumulators of 16 columns each (27 of
// the 32 zmm at KB 3, SW 9). Each 16 columns of a row load KB vectors of dy and SW of x for KB·SW FMAs.
// The lanes are summed once at the end.
template <int KB, int SW>
__attribute__((target("avx512f"))) void dw_pair(const float* x, const float* dy, float* dw, const ConvShape& s, int k0,
                                                int c, int r) {
    const int P = s.P(), Q = s.Q();
    const int64_t PQ = int64_t(P) * Q, HW = int64_t(s.H) * s.W;
    __m512 acc[KB][SW];
#pragma GCC unroll 3
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 9
        for (int t = 0; t < SW; ++t) acc[kk][t] = _mm512_setzero_ps();
    for (int n = 0; n < s.N; ++n) {
        const float* dyn = dy + (int64_t(n) * s.K + k0) * PQ;
        const float* xc = x + (int64_t(n) * s.C + c) * HW;
        for (int p = 0; p < P; ++p) {
            const float* dyr = dyn + int64_t(p) * Q;
            const float* xr = xc + int64_t(p + r) * s.W;
            for (int q0 = 0; q0 < Q; q0 += 16) {
                const int left = Q - q0;
                const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
                __m512 g[KB];
#pragma GCC unroll 3
                for (int kk = 0; kk < KB; ++kk) g[kk] = _mm512_maskz_loadu_ps(m, dyr + kk * PQ + q0);
#pragma GCC unroll 9
                for (int t = 0; t < SW; ++t) {
                    const __m512 xv = _mm512_maskz_loadu_ps(m, xr + q0 + t);  // columns q + t < W: inside
#pragma GCC unroll 3
                    for (int kk = 0; kk < KB; ++kk) acc[kk][t] = _mm512_fmadd_ps(g[kk], xv, acc[kk][t]);
                }
            }
        }
    }
    const int64_t CRS = int64_t(s.C) * s.R * s.S;
#pragma GCC unroll 3
    for (int kk = 0; kk < KB; ++kk)
#pragma GCC unroll 9
        for (int t = 0; t < SW; ++t)
        {
            // (not _mm512_reduce_add_ps: GCC 12 warns on the undefined vector inside it)
            alignas(64) float lanes[16];
            _mm512_store_ps(lanes, acc[kk][t]);
            float sum = 0.f;
            for (float v : lanes) sum += v;
            dw[(k0 + kk) * CRS + (int64_t(c) * s.R + r) * s.S + t] = sum;
        }
}

using PairFn = void (*)(const float*, const float*, float*, const ConvShape&, int, int, int);
template <int SW> PairFn pair_for(int kb) {
    return kb == 1 ? dw_pair<1, SW> : kb == 2 ? dw_pair<2, SW> : dw_pair<3, SW>;
}

}  // namespace
#endif

// Few filters (the last conv, 32 -> 3): the GEMM's M side would be K = 3 rows of a 14-row tile.
bool conv2d_backward_weight_direct(const float* x, const float* dy, float* dw, const ConvShape& s) {
#ifdef NST_DIRECT_AVX512
    const bool fits = s.K <= 8 && s.R == s.S && (s.S == 3 || s.S == 9) && s.stride_h == 1 && s.stride_w == 1 &&
                      s.pad_h == 0 && s.pad_w == 0 && s.P() >= 1 && s.Q() >= 1;
    if (!fits || !__builtin_cpu_supports("avx512f")) return false;
    parallel_for(int64_t(s.C) * s.R, 1, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u)
            for (int k0 = 0; k0 < s.K; k0 += 3) {
                const int kb = std::min(3, s.K - k0);
                (s.S == 9 ? pair_for<9>(kb) : pair_for<3>(kb))(x, dy, dw, s, k0, int(u / s.R), int(u % s.R));
            }
    });
    return true;
#else
    (void)x, (void)dy, (void)dw, (void)s;
    return false;
#endif
}

// Stride 1: dx is the forward conv of dy, padded by R-1-pad, with the filters flipped and C, K swapped:
//   dx[c, h, w] = Σ_{k,r,t} w[k, c, R-1-r, S-1-t] · dy_padded[k, h + r, w + t]
// which is the direct kernel's where the swapped conv is thin (the last conv's 3 filters become 3 inputs).
bool conv2d_backward_data_direct(const float* dy, const float* w, float* dx, const ConvShape& s) {
    ConvShape t;
    t.N = s.N, t.C = s.K, t.K = s.C, t.R = s.R, t.S = s.S;
    const int ah = s.R - 1 - s.pad_h, aw = s.S - 1 - s.pad_w, P = s.P(), Q = s.Q();
    t.H = P + 2 * ah, t.W = Q + 2 * aw;
    if (s.stride_h != 1 || s.stride_w != 1 || ah < 0 || aw < 0 || t.P() != s.H || t.Q() != s.W ||
        !(s.K <= 4 || s.C <= 8) || !conv2d_direct_fits(t) || !__builtin_cpu_supports("avx512f"))
        return false;
    std::vector<float> padded(size_t(t.x_size()), 0.f), flipped(size_t(s.w_size()));
    for (int64_t nk = 0; nk < int64_t(s.N) * s.K; ++nk)
        for (int p = 0; p < P; ++p)
            std::copy_n(dy + (nk * P + p) * Q, Q, padded.data() + (nk * t.H + p + ah) * t.W + aw);
    for (int k = 0; k < s.K; ++k)
        for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r)
                for (int q = 0; q < s.S; ++q)
                    flipped[((int64_t(c) * s.K + k) * s.R + r) * s.S + q] =
                        w[((int64_t(k) * s.C + c) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - q)];
    return conv2d_forward_direct(padded.data(), flipped.data(), nullptr, dx, t);
}

void conv2d_backward_data_direct_or_gemm(const float* dy, const float* w, float* dx, const ConvShape& s) {
    if (!conv2d_backward_data_direct(dy, w, dx, s)) conv2d_backward_data_gemm(dy, w, dx, s);
}

void conv2d_backward_weight_direct_or_gemm(const float* x, const float* dy, float* dw, const ConvShape& s) {
    if (!conv2d_backward_weight_direct(x, dy, dw, s)) conv2d_backward_weight_gemm(x, dy, dw, s);
}

bool conv2d_forward_direct(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
#ifdef NST_DIRECT_AVX512
    if (!conv2d_direct_fits(s) || !__builtin_cpu_supports("avx512f")) return false;
    const int P = s.P();
    for (int n = 0; n < s.N; ++n) {
        const float* xn = x + int64_t(n) * s.C * s.H * s.W;
        float* yn = y + int64_t(n) * s.K * P * s.Q();
        parallel_for(P, 1, [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p) direct_row(xn, w, b, yn, s, int(p));
        });
    }
    return true;
#else
    (void)x, (void)w, (void)b, (void)y, (void)s;
    return false;
#endif
}

void conv2d_forward_direct_or_gemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (!conv2d_forward_direct(x, w, b, y, s)) conv2d_forward_gemm(x, w, b, y, s);
}

}  // namespace nst::cpu
