// bench_gemm: the project's CPU GEMM (kernels/cpu/gemm.h) against OpenBLAS on the products the Winograd
// conv runs for VGG-19 (conv1_1 .. conv5_1, 256 and 512 px), one thread each as in the conv (whose 36
// products per layer are spread over the threads), plus a 1536³ ceiling on one and on all threads.
// Prints the CPU, its ISA, every micro-kernel it can run and the core OpenBLAS picked; a markdown table.
//
//   bench_gemm [--sizes 256,512] [--kernels avx512,avx2] [--min-time 0.05] [--keep-openblas-core]
//
// OpenBLAS is the yardstick at its right core: when its table of CPU models gave it narrower kernels than
// this CPU has (kernels/cpu/openblas.h), the program runs itself again with OPENBLAS_CORETYPE set to the
// matching core and says so (--keep-openblas-core measures what it picked instead).
#include <cstdint>
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "apps/gemm_ceiling.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "base/error.h"
#ifdef NST_HAVE_OPENBLAS
#include <cblas.h>

#include "kernels/cpu/openblas.h"
#endif

using namespace nst;
using cpu::Trans;
using clock_type = std::chrono::steady_clock;

namespace {

// One Winograd product of a layer: forward M_ξ[K, nb] = U_ξ[K, C] V_ξ[C, nb] (U packed once), backward
// dV_ξ[C, nb] = U_ξᵀ[C, K] dM_ξ[K, nb] (the same packing read transposed); nb = the tiles of one block.
struct Shape {
    std::string name;  // e.g. "conv3_1 fwd"
    int64_t M, N, K;
    bool transposed;
};

// VGG-19's 3x3 layers through conv5_1 on an image of longest side `size` (4:3 landscape, like chelsea
// at 256 -> 256x170), with the tile blocks of conv2d_winograd.cpp (8-tile rows, 6 Mi floats per block).
std::vector<Shape> winograd_shapes(int size) {
    struct L { const char* name; int C, K, scale; };
    const L layers[] = {{"conv1_1", 3, 64, 1},    {"conv1_2", 64, 64, 1},   {"conv2_1", 64, 128, 2},
                        {"conv2_2", 128, 128, 2}, {"conv3_1", 128, 256, 4}, {"conv3_2", 256, 256, 4},
                        {"conv4_1", 256, 512, 8}, {"conv4_2", 512, 512, 8}, {"conv5_1", 512, 512, 16}};
    const int H0 = size * 170 / 256, W0 = size;
    std::vector<Shape> out;
    for (const L& l : layers) {
        const int H = H0 / l.scale, W = W0 / l.scale;
        const int64_t tw = (W + 3) / 4, twp = (tw + 7) / 8 * 8, tiles = (H + 3) / 4 * twp;
        const int64_t per_tile = 36 * int64_t(l.C + l.K);
        const int64_t nb = std::min(tiles, std::max<int64_t>(8, (int64_t(6) << 20) / per_tile / 8 * 8));
        const std::string at = std::string(l.name) + " " + std::to_string(W) + "x" + std::to_string(H);
        out.push_back({at + " fwd", l.K, nb, l.C, false});
        out.push_back({at + " bwd", l.C, nb, l.K, true});
    }
    return out;
}

struct Operands {
    std::vector<float> A, B, C, packed;
};

Operands make(const Shape& s) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    Operands o;
    // U is K x C for the forward (A = U) and for the backward (A = Uᵀ, U is s.K x s.M).
    const int64_t urows = s.transposed ? s.K : s.M, ucols = s.transposed ? s.M : s.K;
    o.A.resize(size_t(urows * ucols));
    o.B.resize(size_t(s.K * s.N));
    o.C.resize(size_t(s.M * s.N));
    for (float& v : o.A) v = u(rng);
    for (float& v : o.B) v = u(rng);
    return o;
}

double ours(const Shape& s, double min_time) {
    Operands o = make(s);
    const int64_t urows = s.transposed ? s.K : s.M, ucols = s.transposed ? s.M : s.K;
    o.packed.resize(size_t(cpu::packed_a_floats(urows, ucols)));
    cpu::pack_a(Trans::No, urows, ucols, o.A.data(), ucols, o.packed.data());
    return bench::time_it(
        [&] {
            if (s.transposed)
                cpu::sgemm_packed_t(s.M, s.N, s.K, 1.f, o.packed.data(), Trans::No, o.B.data(), s.N, 0.f, o.C.data(), s.N);
            else
                cpu::sgemm_packed(s.M, s.N, s.K, 1.f, o.packed.data(), Trans::No, o.B.data(), s.N, 0.f, o.C.data(), s.N);
        },
        min_time);
}

#ifdef NST_HAVE_OPENBLAS
double openblas(const Shape& s, double min_time) {
    Operands o = make(s);
    const int64_t lda = s.transposed ? s.M : s.K;
    return bench::time_it(
        [&] {
            cblas_sgemm(CblasRowMajor, s.transposed ? CblasTrans : CblasNoTrans, CblasNoTrans, int(s.M), int(s.N), int(s.K),
                        1.f, o.A.data(), int(lda), o.B.data(), int(s.N), 0.f, o.C.data(), int(s.N));
        },
        min_time);
}
#endif

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t b = 0;
    while (b <= s.size()) {
        const size_t e = std::min(s.find(',', b), s.size());
        if (e > b) out.push_back(s.substr(b, e - b));
        b = e + 1;
    }
    return out;
}

// Runs this program again with OPENBLAS_CORETYPE set, when OpenBLAS picked narrower kernels than the CPU
// has; returns only if it did not (or could not) re-run.
void rerun_at_matching_core(char** argv) {
#ifdef NST_HAVE_OPENBLAS
    if (std::getenv("OPENBLAS_CORETYPE") || cpu::openblas_core_mismatch().empty()) return;
    const std::string core = cpu::openblas_matching_core();
    std::printf("OpenBLAS picked its %s kernels; running again with OPENBLAS_CORETYPE=%s, its right core for this CPU\n",
                cpu::openblas_core().c_str(), core.c_str());
    std::fflush(stdout);
    setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    execv("/proc/self/exe", argv);
    std::perror("bench_gemm: could not run itself again");
#else
    (void)argv;
#endif
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"The project's CPU GEMM against OpenBLAS on VGG-19's Winograd products"};
    std::string sizes = "256,512", kernels;
    double min_time = 0.05;
    bool keep_core = false;
    app.add_option("--sizes", sizes, "image sizes (longest side), comma-separated (default 256,512)");
    app.add_option("--kernels", kernels, "micro-kernels to time (default: every one this CPU runs)");
    app.add_option("--min-time", min_time, "seconds per measurement (default 0.05)")->check(CLI::PositiveNumber);
    app.add_flag("--keep-openblas-core", keep_core, "time OpenBLAS with the core it picked, even a narrower one");
    CLI11_PARSE(app, argc, argv);
    try {
        if (!keep_core) rerun_at_matching_core(argv);
        const std::string in_use = cpu::gemm_kernel_name();  // the default, or $NST_GEMM_KERNEL's
        const std::vector<std::string> names = kernels.empty() ? cpu::gemm_kernels_available() : split(kernels);
        if (names.empty()) throw Error("--kernels names no micro-kernel (\"" + kernels + "\")");
        for (const std::string& k : names) cpu::set_gemm_kernel(k);  // refuses unknown or unrunnable ones by name
        cpu::set_gemm_kernel(in_use);
        std::printf("cpu: %s; isa: %s; %u hardware threads\n", cpu::cpu_model_name().c_str(), cpu::cpu_isa().c_str(),
                    std::max(1u, std::thread::hardware_concurrency()));
        std::string avail;
        for (const std::string& k : cpu::gemm_kernels_available()) avail += (avail.empty() ? "" : ", ") + k;
        std::printf("gemm micro-kernel in use: %s (this CPU runs: %s)\n", in_use.c_str(), avail.c_str());
#ifdef NST_HAVE_OPENBLAS
        std::printf("openblas: %s; core %s%s\n", cpu::openblas_config().c_str(), cpu::openblas_core().c_str(),
                    cpu::openblas_core_mismatch().empty() ? " (matches this CPU)" : " (narrower than this CPU: see the note)");
        if (!cpu::openblas_core_mismatch().empty()) std::printf("note: %s\n", cpu::openblas_core_mismatch().c_str());
#else
        std::printf("openblas: not in this build\n");
#endif
        std::printf("\nGFLOP/s, one thread per product (as in the conv); %% = ours / OpenBLAS\n\n| product | M x N x K |");
        for (const std::string& k : names) std::printf(" %s |", k.c_str());
        std::printf(" OpenBLAS | %% of OpenBLAS (%s) |\n| --- | --- |", names.front().c_str());
        for (size_t i = 0; i < names.size() + 2; ++i) std::printf(" --- |");
        std::printf("\n");
        std::vector<double> flop_total(names.size() + 1), time_total(names.size() + 1);
        cpu::set_pool_threads(1);
        for (const std::string& size : split(sizes)) {
            for (const Shape& s : winograd_shapes(std::stoi(size))) {
                const double flop = 2.0 * double(s.M) * double(s.N) * double(s.K);
                std::printf("| %s px %s | %lld x %lld x %lld |", size.c_str(), s.name.c_str(), (long long)s.M,
                            (long long)s.N, (long long)s.K);
                double first = 0;
                for (size_t i = 0; i < names.size(); ++i) {
                    cpu::set_gemm_kernel(names[i]);
                    const double t = ours(s, min_time);
                    flop_total[i] += flop, time_total[i] += t;
                    if (i == 0) first = flop / t / 1e9;
                    std::printf(" %.1f |", flop / t / 1e9);
                }
                double ob = 0;
#ifdef NST_HAVE_OPENBLAS
                const double t = openblas(s, min_time);
                flop_total.back() += flop, time_total.back() += t;
                ob = flop / t / 1e9;
#endif
                std::printf(" %.1f | %.0f%% |\n", ob, ob > 0 ? 100 * first / ob : 0.0);
            }
        }
        std::printf("| all of the above (total flop / total time) | |");
        for (size_t i = 0; i < names.size(); ++i) std::printf(" %.1f |", flop_total[i] / time_total[i] / 1e9);
        const double ob_all = time_total.back() > 0 ? flop_total.back() / time_total.back() / 1e9 : 0;
        const double ours_all = flop_total[0] / time_total[0] / 1e9;
        std::printf(" %.1f | %.0f%% |\n", ob_all, ob_all > 0 ? 100 * ours_all / ob_all : 0.0);

        const int threads = int(std::max(1u, std::thread::hardware_concurrency()));
        cpu::set_gemm_kernel(names.front());
        for (int t : {1, threads}) {
            const double ob = bench::ceiling_openblas(t, min_time), o = bench::ceiling_ours(t, min_time);
            std::printf("ceiling 1536^3, %d thread%s: ours (%s) %.1f GFLOP/s, OpenBLAS %.1f GFLOP/s (%.0f%%)\n", t,
                        t == 1 ? "" : "s", names.front().c_str(), o, ob, ob > 0 ? 100 * o / ob : 0.0);
            if (threads == 1) break;
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_gemm: error: %s\n", e.what());
        return 1;
    }
}
