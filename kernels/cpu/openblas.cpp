// OpenBLAS adapter and core check (contract in openblas.h). Compiled only when CMake finds OpenBLAS.
#include "kernels/cpu/openblas.h"

#include <cstdint>
#include <cblas.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace nst::cpu {

namespace {

// 3: AVX-512 (F, BW, VL, DQ: what OpenBLAS's SkylakeX kernels use), 2: AVX2 + FMA, 1: AVX, 0: SSE.
int cpu_level() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx")) return 1;
#endif
    return 0;
}

// The same scale for OpenBLAS's x86-64 core names (0.3.21's DYNAMIC_ARCH list).
// Compared without case: builds without DYNAMIC_ARCH name their core in capitals ("HASWELL").
int core_level(std::string core) {
    for (char& ch : core) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* c : {"skylakex", "cooperlake", "sapphirerapids"})
        if (core == c) return 3;
    for (const char* c : {"haswell", "zen", "excavator"})
        if (core == c) return 2;
    for (const char* c : {"sandybridge", "bulldozer", "piledriver", "steamroller"})
        if (core == c) return 1;
    return 0;
}

const char* kLevelNames[] = {"SSE", "AVX", "AVX2", "AVX-512"};

CBLAS_TRANSPOSE cblas(Trans t) { return t == Trans::No ? CblasNoTrans : CblasTrans; }

}  // namespace

void openblas_sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    warn_openblas_core_once();
    cblas_sgemm(CblasRowMajor, cblas(ta), cblas(tb), int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C,
                int(ldc));
}

std::string openblas_core() { return openblas_get_corename(); }
std::string openblas_config() { return openblas_get_config(); }

std::string openblas_matching_core() {
    switch (cpu_level()) {
        case 3: return "SkylakeX";
        case 2: return "Haswell";
        case 1: return "Sandybridge";
        default: return "Prescott";
    }
}

std::string openblas_core_mismatch() {
    const std::string core = openblas_core();
    const int have = core_level(core), cpu = cpu_level();
    if (have >= cpu) return "";
    const char* forced = std::getenv("OPENBLAS_CORETYPE");
    const std::string why = forced ? std::string("as OPENBLAS_CORETYPE=") + forced + " asks"
                                   : std::string("as its table of CPU models does not know this one");
    return "OpenBLAS runs its " + core + " kernels (" + kLevelNames[have] + ") on this CPU, which has " + kLevelNames[cpu] +
           ", " + why + ". The OpenBLAS (`blas`) variants are a yardstick, not the default; OPENBLAS_CORETYPE=" +
           openblas_matching_core() + " makes them use matching kernels.";
}

void warn_openblas_core_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        const std::string m = openblas_core_mismatch();
        if (!m.empty()) std::fprintf(stderr, "note: %s\n", m.c_str());
    });
}

}  // namespace nst::cpu
