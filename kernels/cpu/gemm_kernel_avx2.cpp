// GEMM micro-kernel for AVX2 + FMA: a 6 x 16 tile of C in 12 ymm accumulators (of 16), the classic
// Haswell shape: per k step 2 loads of B and 6 broadcasts of A feed 12 FMAs. Instantiated for every row
// count 1..6, with masked loads and stores for a ragged last column block, so edge tiles need no scratch.
// Compiled for AVX2 by the target attribute; gemm.cpp calls it only where the CPU says avx2 and fma.
#include "kernels/cpu/gemm_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cstdint>
#include <immintrin.h>

#include <array>
#include <utility>

namespace nst::cpu {

namespace {

constexpr int kMR = 6, kNR = 16;

// A's element (i, k) of the tile within a group of MR k steps (see gemm_kernels.h).
template <bool AT> constexpr int a_offset(int i, int r) { return AT ? r + i * kMR : r * kMR + i; }

template <int M, bool AT, int NV>
__attribute__((target("avx2,fma"))) void tile(int64_t kc, const float* a, int64_t a_group_stride, const float* b,
                                              int64_t ldb, float* c, int64_t ldc, int n, bool accumulate) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);      // lanes j < n
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane);  // lanes 8 + j < n
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    __m256 acc[M][NV];  // NV = 1: a tile at most 8 columns wide, whose second vector would be all padding
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < kc; k0 += kMR, a += a_group_stride) {
        const int steps = int(kc - k0 < kMR ? kc - k0 : kMR);
        for (int r = 0; r < steps; ++r, b += ldb) {
            // A ragged B read in place has nothing past column n: masked loads there (slower on some CPUs).
            const __m256 b0 = n == kNR ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m0);
            const __m256 b1 = NV == 1 ? b0 : n == kNR ? _mm256_loadu_ps(b + 8) : _mm256_maskload_ps(b + 8, m1);
            _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
#pragma GCC unroll 6
            for (int i = 0; i < M; ++i) {
                const __m256 ai = _mm256_broadcast_ss(a + a_offset<AT>(i, r));
                acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                if constexpr (NV == 2) acc[i][NV - 1] = _mm256_fmadd_ps(ai, b1, acc[i][NV - 1]);
            }
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < M; ++i) {
        float* ci = c + i * ldc;
        if (n == kNR) {
            if (accumulate) acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(ci));
            _mm256_storeu_ps(ci, acc[i][0]);
            if constexpr (NV == 2) {
                if (accumulate) acc[i][NV - 1] = _mm256_add_ps(acc[i][NV - 1], _mm256_loadu_ps(ci + 8));
                _mm256_storeu_ps(ci + 8, acc[i][NV - 1]);
            }
            continue;
        }
        if (accumulate) acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_maskload_ps(ci, m0));
        _mm256_maskstore_ps(ci, m0, acc[i][0]);
        if constexpr (NV == 2) {
            if (accumulate) acc[i][NV - 1] = _mm256_add_ps(acc[i][NV - 1], _mm256_maskload_ps(ci + 8, m1));
            _mm256_maskstore_ps(ci + 8, m1, acc[i][NV - 1]);
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

void micro_avx2(int64_t kc, const float* a, int64_t a_group_stride, bool a_transposed, const float* b, int64_t ldb,
                float* c, int64_t ldc, int m, int n, bool accumulate) {
    kTiles[a_transposed][n > 8][size_t(m - 1)](kc, a, a_group_stride, b, ldb, c, ldc, n, accumulate);
}

bool avx2_runs_here() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

}  // namespace

const GemmKernel kGemmAvx2 = {"avx2", 2, kMR, kNR, 6 * 42, 6 * 42, micro_avx2, avx2_runs_here};

}  // namespace nst::cpu

#else
namespace nst::cpu {
const GemmKernel kGemmAvx2 = {"avx2", 2, 6, 16, 252, 252, nullptr, [] { return false; }};
}
#endif
