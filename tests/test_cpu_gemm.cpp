// The project's CPU GEMM (kernels/cpu/gemm.h): every micro-kernel this CPU can run, forced in turn,
// against a float64 triple loop on ragged sizes (edges in M, N and K, K across cache blocks), every
// transpose, beta 0 / 1 / other, packed A (read as is and transposed) and the upper-triangle product; C's surroundings untouched;
// and the fast conv and Gram variants on top of each micro-kernel against the reference kernels.
// The ASan pass of scripts/test.sh runs this file too, so edge tiles are checked for stray reads/writes.
#include <cstdint>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/gemm.h"
#include "base/error.h"
#include "tests/catch.h"
#include "tests/test_util.h"

using namespace nst;
using cpu::Trans;

namespace {

// Restores the micro-kernel chosen at start-up when a test leaves.
struct ScopedGemmKernel {
    std::string old;
    explicit ScopedGemmKernel(const std::string& name) : old(cpu::set_gemm_kernel(name)) {}
    ~ScopedGemmKernel() { cpu::set_gemm_kernel(old); }
};

enum class Mode { Plain, Packed, PackedT, Upper };

struct Case {
    int64_t M, N, K;
    Trans ta, tb;
    float alpha, beta;
    Mode mode;
};

// Runs one product on a C with a guard border (ldc > N, rows above and below) and returns the worst
// relative error against float64; guard cells must keep their value exactly.
double run_case(const Case& c, std::mt19937& rng, bool& guard_ok) {
    std::uniform_real_distribution<float> u(-1, 1);
    const int64_t rows_a = c.ta == Trans::No ? c.M : c.K, cols_a = c.ta == Trans::No ? c.K : c.M;
    const int64_t rows_b = c.tb == Trans::No ? c.K : c.N, cols_b = c.tb == Trans::No ? c.N : c.K;
    // B exactly as wide as its rows for odd K: a B read in place (M <= mc, alpha 1) must not read past
    // its last row's end, which ASan then reports (scripts/test.sh runs this file under ASan).
    const int64_t lda = cols_a + 3, ldb = cols_b + (c.K % 2 ? 0 : 5), ldc = c.N + 7, guard_rows = 2;
    std::vector<float> A(size_t(rows_a * lda)), B(size_t(rows_b * ldb));
    for (float& v : A) v = u(rng);
    for (float& v : B) v = u(rng);
    const float kGuard = 12345.f;
    std::vector<float> Cbuf(size_t((c.M + 2 * guard_rows) * ldc), kGuard);
    float* C = Cbuf.data() + guard_rows * ldc;
    // beta = 0 must not read C: NaN there has to disappear.
    for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) C[i * ldc + j] = c.beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
    std::vector<double> ref(size_t(c.M * c.N));
    for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < c.K; ++k) {
                const double a = c.ta == Trans::No ? A[size_t(i * lda + k)] : A[size_t(k * lda + i)];
                const double b = c.tb == Trans::No ? B[size_t(k * ldb + j)] : B[size_t(j * ldb + k)];
                s += a * b;
            }
            ref[size_t(i * c.N + j)] = c.alpha * s + (c.beta == 0.f ? 0.0 : double(c.beta) * C[i * ldc + j]);
        }
    switch (c.mode) {
        case Mode::Plain:
            cpu::sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C, ldc);
            break;
        case Mode::Packed: {
            std::vector<float> P(size_t(cpu::packed_a_floats(c.M, c.K)));
            cpu::pack_a(c.ta, c.M, c.K, A.data(), lda, P.data());
            cpu::sgemm_packed(c.M, c.N, c.K, c.alpha, P.data(), c.tb, B.data(), ldb, c.beta, C, ldc);
            break;
        }
        case Mode::PackedT: {  // op(A) = Pᵀ from a packing of P = op(A)ᵀ (K x M)
            std::vector<float> P(size_t(cpu::packed_a_floats(c.K, c.M)));
            cpu::pack_a(c.ta == Trans::No ? Trans::Yes : Trans::No, c.K, c.M, A.data(), lda, P.data());
            cpu::sgemm_packed_t(c.M, c.N, c.K, c.alpha, P.data(), c.tb, B.data(), ldb, c.beta, C, ldc);
            break;
        }
        case Mode::Upper:
            cpu::sgemm_upper(c.ta, c.tb, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C, ldc);
            break;
    }
    double worst = 0;
    for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
            if (c.mode == Mode::Upper && j < i) continue;  // below the diagonal: not part of the contract
            const double r = ref[size_t(i * c.N + j)], e = std::fabs(C[i * ldc + j] - r) / (1 + std::fabs(r));
            worst = std::max(worst, std::isnan(e) ? INFINITY : e);
        }
    guard_ok = true;
    for (int64_t i = -guard_rows; i < c.M + guard_rows; ++i)
        for (int64_t j = 0; j < ldc; ++j)
            if ((i < 0 || i >= c.M || j >= c.N) && C[i * ldc + j] != kGuard) guard_ok = false;
    return worst;
}

}  // namespace

TEST_CASE("gemm: every micro-kernel this CPU runs matches float64 on ragged sizes, all transposes and betas",
          "[cpu][gemm]") {
    const std::vector<std::string> kernels = cpu::gemm_kernels_available();
    REQUIRE_FALSE(kernels.empty());
    CHECK(kernels.back() == "portable");  // runs everywhere
    std::cout << "micro-kernels tested: ";
    for (const std::string& k : kernels) std::cout << k << " ";
    std::cout << "\n";
    // Sizes around every MR (4, 6, 14) and NR (16, 32), M and K across the 252 blocks, and 1s.
    const int64_t Ms[] = {1, 5, 6, 13, 14, 15, 29, 64, 171, 300};  // 300: two row blocks (mc = 252)
    const int64_t Ns[] = {1, 15, 16, 17, 31, 33, 64, 97};
    const int64_t Ks[] = {1, 7, 251, 252, 253, 300, 513};  // around the kc = 252 block
    for (const std::string& name : kernels) {
        ScopedGemmKernel pin(name);
        std::mt19937 rng(42);
        int cases = 0;
        for (int64_t M : Ms)
            for (int64_t N : Ns)
                for (int64_t K : Ks) {
                    if (rng() % 3 != 0 && !(M == 300 && N == 97 && K == 513)) continue;  // a third of the grid
                    const Trans ta = rng() & 1 ? Trans::Yes : Trans::No, tb = rng() & 1 ? Trans::Yes : Trans::No;
                    const float betas[] = {0.f, 1.f, -0.5f};
                    const float alpha = rng() % 2 ? 1.f : 0.75f;  // 1: B may be read in place, unpacked
                    const Case c{M, N, K, ta, tb, alpha, betas[rng() % 3], Mode(rng() % 4)};
                    const Case sq{M, M, K, ta, tb, c.alpha, c.beta, Mode::Upper};
                    const Case& run = c.mode == Mode::Upper ? sq : c;
                    INFO("kernel " << name << ": M " << run.M << " N " << run.N << " K " << run.K << " ta "
                                   << int(run.ta) << " tb " << int(run.tb) << " beta " << run.beta << " mode "
                                   << int(run.mode));
                    bool guard_ok = false;
                    CHECK(run_case(run, rng, guard_ok) < 2e-6 * std::sqrt(double(run.K)) + 1e-6);
                    CHECK(guard_ok);
                    ++cases;
                }
        CHECK(cases > 50);
        // Always, whatever the draws: column blocks past 768 (jc > 0), two row blocks (M > 252) read
        // transposed and as an upper triangle, and a B read in place (alpha 1, not transposed, M <= 252).
        const Case fixed[] = {{300, 800, 260, Trans::No, Trans::No, 1.f, 0.f, Mode::PackedT},
                              {300, 300, 270, Trans::No, Trans::Yes, 0.5f, 1.f, Mode::Upper},
                              {850, 850, 40, Trans::Yes, Trans::No, 1.f, 0.f, Mode::Upper},
                              {100, 800, 300, Trans::No, Trans::No, 1.f, 1.f, Mode::Plain},
                              {100, 801, 253, Trans::Yes, Trans::No, 1.f, -0.5f, Mode::Packed},
                              {260, 790, 5, Trans::No, Trans::Yes, 0.75f, 0.f, Mode::Plain}};
        for (const Case& c : fixed) {
            INFO("kernel " << name << " fixed case: M " << c.M << " N " << c.N << " K " << c.K << " mode " << int(c.mode));
            bool guard_ok = false;
            CHECK(run_case(c, rng, guard_ok) < 2e-6 * std::sqrt(double(c.K)) + 1e-6);
            CHECK(guard_ok);
        }
    }
}

TEST_CASE("gemm: degenerate sizes scale C by beta, and bad settings are refused by name", "[cpu][gemm][errors]") {
    float C[6] = {1, 2, 3, 4, 5, 6};
    const float A[1] = {9}, B[1] = {9};
    cpu::sgemm(Trans::No, Trans::No, 2, 3, 0, 1.f, A, 1, B, 3, 2.f, C, 3);  // K = 0: C = beta C
    CHECK(C[5] == 12.f);
    cpu::sgemm(Trans::No, Trans::No, 2, 3, 0, 1.f, A, 1, B, 3, 0.f, C, 3);
    CHECK(C[0] == 0.f);
    CHECK_THROWS_WITH(cpu::sgemm(Trans::No, Trans::No, -1, 3, 1, 1.f, A, 1, B, 3, 0.f, C, 3),
                      Catch::Contains("negative size"));
    CHECK_THROWS_WITH(cpu::set_gemm_kernel("sse9"), Catch::Contains("no GEMM micro-kernel \"sse9\"") &&
                                                         Catch::Contains("portable"));
    // A packing is tied to its shape and to the micro-kernel that made it.
    std::vector<float> P(size_t(cpu::packed_a_floats(3, 2))), src(6, 1.f), out(9);
    cpu::pack_a(Trans::No, 3, 2, src.data(), 2, P.data());
    CHECK_THROWS_WITH(cpu::sgemm_packed(2, 3, 3, 1.f, P.data(), Trans::No, src.data(), 3, 0.f, out.data(), 3),
                      Catch::Contains("not a pack_a packing of a 2 x 3"));
    const std::vector<std::string> kernels = cpu::gemm_kernels_available();
    if (kernels.size() > 1) {
        ScopedGemmKernel other(kernels.back());
        CHECK_THROWS_WITH(cpu::sgemm_packed(3, 3, 2, 1.f, P.data(), Trans::No, src.data(), 3, 0.f, out.data(), 3),
                          Catch::Contains("another GEMM micro-kernel"));
    }
}

TEST_CASE("gemm: Winograd filters prepared under another micro-kernel are refused by name, not misread",
          "[cpu][gemm][errors]") {
    const std::vector<std::string> kernels = cpu::gemm_kernels_available();
    if (kernels.size() < 2) {
        std::cout << "NST_SKIPPED: this CPU runs one GEMM micro-kernel only\n";
        return;
    }
    const ConvShape s{1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1};
    std::vector<float> w(size_t(64 * 64 * 9), 0.01f), x(size_t(64 * 64), 1.f), y(size_t(64 * 64));
    for (const auto& [made, used] : {std::pair{kernels.back(), kernels.front()}, std::pair{kernels.front(), kernels.back()}}) {
        INFO("prepared with " << made << ", used with " << used);
        std::vector<float> P;
        {
            ScopedGemmKernel pin(made);
            P.resize(size_t(cpu::conv2d_prepared_size_winograd(s)));
            cpu::conv2d_prepare_winograd(w.data(), P.data(), s);
        }
        ScopedGemmKernel pin(used);
        CHECK_THROWS_WITH(cpu::conv2d_forward_winograd_prepared(x.data(), P.data(), nullptr, y.data(), s),
                          Catch::Contains("pack it again"));
        CHECK_THROWS_WITH(cpu::conv2d_backward_data_winograd_prepared(y.data(), P.data(), x.data(), s),
                          Catch::Contains("pack it again"));
    }
}

TEST_CASE("gemm: conv (Winograd, im2col) and Gram on every micro-kernel match the reference kernels", "[cpu][gemm]") {
    for (const std::string& name : cpu::gemm_kernels_available()) {
        ScopedGemmKernel pin(name);
        // Odd shapes, and one of VGG-19's (conv3_1: 128 -> 256 channels) at a small size.
        struct Conv { int N, C, H, W, K; };
        for (const Conv& c : {Conv{1, 3, 11, 9, 5}, Conv{2, 17, 13, 10, 33}, Conv{1, 128, 9, 7, 256}}) {
            for (const char* variant : {"winograd", "im2col_gemm"}) {
                INFO("kernel " << name << " conv2d " << variant << " C" << c.C << " K" << c.K << " " << c.H << "x" << c.W);
                Tensor x = Tensor::uniform({c.N, c.C, c.H, c.W}, -1, 1, 3).requires_grad_();
                Tensor w = Tensor::uniform({c.K, c.C, 3, 3}, -0.2, 0.2, 4);
                Tensor x2 = x.clone().requires_grad_();
                const Tensor dy = Tensor::uniform({c.N, c.K, c.H, c.W}, -1, 1, 5);
                Tensor ref, out;
                {
                    ScopedVariant r("conv2d", "reference");
                    ref = conv2d(x, w, Tensor(), 1, 1);
                    ref.backward(dy);
                }
                {
                    ScopedVariant v("conv2d", variant);
                    const PreparedConvWeights prep = prepare_conv2d_weights(w, 1, 1);  // for this micro-kernel
                    out = conv2d(x2, w, Tensor(), 1, 1, &prep);
                    out.backward(dy);
                }
                CHECK(test::rel_err(out, ref) < 2e-5);
                CHECK(test::rel_err(x2.grad(), x.grad()) < 2e-5);
            }
        }
        for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{2, 65, 37, 41}, Shape{1, 256, 16, 10}}) {
            INFO("kernel " << name << " gram " << shape_str(s));
            Tensor f = Tensor::uniform(s, -1, 1, 8).requires_grad_();
            Tensor f2 = f.clone().requires_grad_();
            const Tensor R = Tensor::uniform({s[0], s[1], s[1]}, -1, 1, 9);
            Tensor ref, out;
            {
                ScopedVariant r("gram", "reference");
                ref = gram(f);
                ref.backward(R);
            }
            {
                ScopedVariant v("gram", "gemm");
                out = gram(f2);
                out.backward(R);
            }
            CHECK(test::rel_err(out, ref) < 2e-5);
            CHECK(test::rel_err(f2.grad(), f.grad()) < 2e-5);
        }
    }
}

#ifdef NST_HAVE_OPENBLAS
#include "kernels/cpu/openblas.h"

// Run by its own ctest with OPENBLAS_CORETYPE=Prescott (tests/CMakeLists.txt): OpenBLAS's SSE3 kernels on
// a CPU with AVX2 or AVX-512 must be reported, with the core that matches the CPU.
TEST_CASE("openblas: SSE3 kernels on a wider CPU are reported with the matching core", "[.openblas_prescott]") {
    if (cpu::openblas_config().find("DYNAMIC_ARCH") == std::string::npos) {
        std::cout << "NST_SKIPPED: this OpenBLAS has one core built in (no DYNAMIC_ARCH): OPENBLAS_CORETYPE does nothing\n";
        return;
    }
    REQUIRE(cpu::openblas_core() == "Prescott");
    const std::string note = cpu::openblas_core_mismatch();
    if (cpu::openblas_matching_core() == "Prescott") {
        CHECK(note.empty());  // an SSE-only CPU: nothing wider to ask for
        return;
    }
    CHECK_THAT(note, Catch::Contains("Prescott kernels (SSE)") && Catch::Contains("OPENBLAS_CORETYPE=Prescott asks") &&
                         Catch::Contains("OPENBLAS_CORETYPE=" + cpu::openblas_matching_core()));
    // The blas variant still computes the right thing, only slower.
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {};
    cpu::openblas_sgemm(Trans::No, Trans::No, 2, 2, 2, 1.f, A, 2, B, 2, 0.f, C, 2);
    CHECK(C[3] == 4.f);
}
#endif
