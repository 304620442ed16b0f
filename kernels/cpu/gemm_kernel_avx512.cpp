// GEMM micro-kernel for AVX-512F: a 14 x 32 tile of C in 28 zmm accumulators. Each k step loads two
// vectors of B (32 floats) and broadcasts 14 values of A, which the FMAs take straight from memory
// (embedded broadcast), so 28 FMAs cost 2 loads + 14 broadcast operands: FMA-bound on cores with two
// 512-bit FMA pipes (Zen 4/5, Sapphire Rapids). Edge tiles need no scratch: the kernel is instantiated
// for every row count 1..14 (no FMAs wasted on padding rows: VGG's 64-row products are 4·14 + 8) and
// masked loads and stores cut the columns. Compiled for AVX-512 by the target attribute, so the rest of
// the program stays baseline x86-64; gemm.cpp calls this only where the CPU says avx512f.
#include "kernels/cpu/gemm_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cstdint>
#include <immintrin.h>

#include <array>
#include <utility>

namespace nst::cpu {

namespace {

constexpr int kMR = 14, kNR = 32;

// A's element (i, k) of the tile within a group of MR k steps (see gemm_kernels.h).
template <bool AT> constexpr int a_offset(int i, int r) { return AT ? r + i * kMR : r * kMR + i; }

template <int M, bool AT, int NV>
__attribute__((target("avx512f"))) void tile(int64_t kc, const float* a, int64_t a_group_stride, const float* b,
                                             int64_t ldb, float* c, int64_t ldc, int n, bool accumulate) {
    const __mmask16 m0 = n >= 16 ? 0xffff : __mmask16((1u << n) - 1);
    const __mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? __mmask16((1u << (n - 16)) - 1) : 0;
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    __m512 acc[M][NV];  // NV = 1: a tile at most 16 columns wide, whose second vector would be all padding
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < kc; k0 += kMR, a += a_group_stride) {
        const int steps = int(kc - k0 < kMR ? kc - k0 : kMR);
        for (int r = 0; r < steps; ++r, b += ldb) {
            // Masked loads cost what plain ones do here, and read nothing past column n of a B in place.
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = NV == 2 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
            _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
            // A's group two ahead (196 floats, 13 lines; one line per step): groups of the transposed packing
            // lie 14·kc floats apart, beyond what the hardware prefetcher follows.
            if (r < 13) _mm_prefetch(reinterpret_cast<const char*>(a + 2 * a_group_stride + 16 * r), _MM_HINT_T0);
#pragma GCC unroll 14
            for (int i = 0; i < M; ++i) {
                const __m512 ai = _mm512_set1_ps(a[a_offset<AT>(i, r)]);
                acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
                if constexpr (NV == 2) acc[i][NV - 1] = _mm512_fmadd_ps(ai, b1, acc[i][NV - 1]);
            }
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
        float* ci = c + i * ldc;
        if (accumulate) acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, ci));
        _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
        if constexpr (NV == 2) {
            if (accumulate) acc[i][NV - 1] = _mm512_add_ps(acc[i][NV - 1], _mm512_maskz_loadu_ps(m1, ci + 16));
            _mm512_mask_storeu_ps(ci + 16, m1, acc[i][NV - 1]);
        }
    }
}

using Tile = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, int, bool);
template <bool AT, int NV, int... Ms> constexpr std::array<Tile, sizeof...(Ms)> table(std::integer_sequence<int, Ms...>) {
    return {tile<Ms + 1, AT, NV>...};
}
// [transposed A][two vectors of columns][rows - 1]
constexpr std::array<Tile, kMR> kTiles[2][2] = {
    {table<false, 1>(std::make_integer_sequence<int, kMR>{}), table<false, 2>(std::make_integer_sequence<int, kMR>{})},
    {table<true, 1>(std::make_integer_sequence<int, kMR>{}), table<true, 2>(std::make_integer_sequence<int, kMR>{})}};

void micro_avx512(int64_t kc, const float* a, int64_t a_group_stride, bool a_transposed, const float* b, int64_t ldb,
                  float* c, int64_t ldc, int m, int n, bool accumulate) {
    kTiles[a_transposed][n > 16][size_t(m - 1)](kc, a, a_group_stride, b, ldb, c, ldc, n, accumulate);
}

bool avx512_runs_here() { return __builtin_cpu_supports("avx512f"); }

}  // namespace

const GemmKernel kGemmAvx512 = {"avx512", 1, kMR, kNR, 14 * 18, 14 * 18, micro_avx512, avx512_runs_here};

}  // namespace nst::cpu

#else
namespace nst::cpu {
const GemmKernel kGemmAvx512 = {"avx512", 1, 14, 32, 252, 252, nullptr, [] { return false; }};
}
#endif
