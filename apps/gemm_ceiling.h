// The SGEMM ceilings the benchmarks print: a 1536³ product on `threads` threads, with the project's GEMM
// (C's columns split over the pool, as the kernels split their work) and with OpenBLAS (its own threads;
// 0 where this build has no OpenBLAS). GFLOP/s, best of three runs of at least min_time seconds.
#pragma once
#include <cstdint>
#include <algorithm>
#include <chrono>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#ifdef NST_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace nst::bench {

template <class F> double time_it(F&& f, double min_time) {
    using clock = std::chrono::steady_clock;
    f();
    double best = 1e30;
    for (int run = 0; run < 3; ++run) {
        int reps = 0;
        const auto t0 = clock::now();
        double el = 0;
        do {
            f();
            ++reps;
            el = std::chrono::duration<double>(clock::now() - t0).count();
        } while (el < min_time);
        best = std::min(best, el / reps);
    }
    return best;
}

inline double ceiling_ours(int threads, double min_time) {
    const int64_t n = 1536;
    std::vector<float> a(size_t(n * n), 1.f), b(size_t(n * n), 0.5f), c(size_t(n * n));
    const int old = cpu::pool_threads();
    cpu::set_pool_threads(threads);
    const double t = time_it(
        [&] {
            cpu::parallel_for(n / 32, 1, [&](int64_t j0, int64_t j1) {
                cpu::sgemm(cpu::Trans::No, cpu::Trans::No, n, (j1 - j0) * 32, n, 1.f, a.data(), n, b.data() + j0 * 32, n,
                           0.f, c.data() + j0 * 32, n);
            });
        },
        min_time);
    cpu::set_pool_threads(old);
    return 2.0 * n * n * n / t / 1e9;
}

inline double ceiling_openblas(int threads, double min_time) {
#ifdef NST_HAVE_OPENBLAS
    const int n = 1536;
    std::vector<float> a(size_t(n) * n, 1.f), b(size_t(n) * n, 0.5f), c(size_t(n) * n);
    openblas_set_num_threads(threads);
    const double t = time_it(
        [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
        },
        min_time);
    openblas_set_num_threads(1);  // the kernels keep OpenBLAS at one thread (parallel.h)
    return 2.0 * n * n * double(n) / t / 1e9;
#else
    (void)threads, (void)min_time;
    return 0;
#endif
}

}  // namespace nst::bench
