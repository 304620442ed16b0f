// GEMM micro-kernel for AVX-512F: a 14 x 32 tile of C in 28 zmm accumulators. Each k step loads two
// vectors of B (32 floats) and broadcasts 14 values of A, which the FMAs take straight from memory
// (embedded broadcast), so 28 FMAs cost 2 loads + 14 broadcast operands: FMA-bound on cores with two
// 512-bit FMA pipes (Zen 4/5, Sapphire Rapids). Edge tiles need no scratch: the kernel is instantiated
// for every row count 1..14 (no FMAs wasted on padding rows: VGG's 64-row products are 4·14 + 8) and
// masked loads and stores cut the columns. Compiled for AVX-512 by the target attribute, so the rest of
// the program stays baseline x86-64; gemm.cpp calls this only where the CPU says avx512f.
#include "kernels/cpu/gemm_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <array>
#include <utility>

namespace nst::cpu {

namespace {

constexpr int kMR = 14, kNR = 32;

template <int M>
__attribute__((target("avx512f"))) void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int n,
                                             bool accumulate) {
    const __mmask16 m0 = n >= 16 ? 0xffff : __mmask16((1u << n) - 1);
    const __mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? __mmask16((1u << (n - 16)) - 1) : 0;
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    __m512 acc[M][2];
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k, a += kMR, b += kNR) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch(reinterpret_cast<const char*>(b + 8 * kNR), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < M; ++i) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < M; ++i) {
        float* ci = c + i * ldc;
        if (accumulate) {
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, ci));
            acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, ci + 16));
        }
        _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
        _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
    }
}

template <int... Ms> constexpr auto table(std::integer_sequence<int, Ms...>) {
    using Fn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, bool);
    return std::array<Fn, sizeof...(Ms)>{tile<Ms + 1>...};
}
constexpr auto kTiles = table(std::make_integer_sequence<int, kMR>{});

void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n, bool accumulate) {
    kTiles[size_t(m - 1)](kc, a, b, c, ldc, n, accumulate);
}

bool avx512_runs_here() { return __builtin_cpu_supports("avx512f"); }

}  // namespace

const GemmKernel kGemmAvx512 = {"avx512", 1, kMR, kNR, 256, 14 * 12, micro_avx512, avx512_runs_here};

}  // namespace nst::cpu

#else
namespace nst::cpu {
const GemmKernel kGemmAvx512 = {"avx512", 1, 14, 32, 256, 168, nullptr, [] { return false; }};
}
#endif
