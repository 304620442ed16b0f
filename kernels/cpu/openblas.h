// OpenBLAS as the CPU's library yardstick (the `blas` variants), the way cuBLAS and cuDNN are on the GPU:
// never the default, always there to compare with when CMake finds it.
//
// OpenBLAS picks its kernels from a table of CPU models at load time, and a CPU newer than its table
// gets an older core: Debian's 0.3.21 runs SSE3 "Prescott" kernels on a Sapphire-Rapids-class Xeon and
// AVX2 "Haswell" kernels on an AVX-512 Zen 5. openblas_core_mismatch() compares its choice with the
// CPU's own features, so that nothing reports or benchmarks those slow kernels silently.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/cpu/gemm.h"

namespace nst::cpu {

// sgemm's contract (gemm.h) on cblas_sgemm.
void openblas_sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

std::string openblas_core();           // the core OpenBLAS runs: openblas_get_corename()
std::string openblas_config();         // openblas_get_config(): version and build
std::string openblas_matching_core();  // the core this CPU's features call for (for OPENBLAS_CORETYPE)
// Empty when OpenBLAS runs kernels as wide as the CPU's; else one sentence saying what it runs, what the
// CPU has, and the OPENBLAS_CORETYPE value that selects matching kernels.
std::string openblas_core_mismatch();
// Prints openblas_core_mismatch() to stderr, once per process, when it is not empty.
void warn_openblas_core_once();

}  // namespace nst::cpu
