// Index arithmetic shared by CPU and CUDA kernels, checked exhaustively on the CPU against brute force
// (so a GPU-only kernel's indexing is tested even where no GPU is).
#include <vector>

#include "core/tensor.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/shapes.h"
#include "tests/catch.h"

using namespace nst;

TEST_CASE("windows_containing matches brute force for every small pooling geometry", "[index]") {
    int geometries = 0;
    for (int H = 1; H <= 13; ++H)
        for (int R = 1; R <= 5; ++R)
            for (int stride = 1; stride <= 3; ++stride)
                for (int pad = 0; 2 * pad <= R; ++pad) {
                    if (H + 2 * pad < R) continue;
                    const int P = (H + 2 * pad - R) / stride + 1;
                    ++geometries;
                    for (int h = 0; h < H; ++h) {
                        int lo, hi;
                        windows_containing(h, R, stride, pad, P, lo, hi);
                        for (int p = 0; p < P; ++p) {
                            const bool contains = p * stride - pad <= h && h <= p * stride - pad + R - 1;
                            INFO("H " << H << " R " << R << " stride " << stride << " pad " << pad << " h " << h << " p " << p);
                            REQUIRE(contains == (lo <= p && p <= hi));
                        }
                    }
                }
    CHECK(geometries > 300);
}

TEST_CASE("output sizes follow floor((H + 2 pad - R) / stride) + 1", "[index]") {
    ConvShape c;
    c.H = 7; c.W = 5; c.R = 3; c.S = 2; c.stride_h = 2; c.stride_w = 1; c.pad_h = 1; c.pad_w = 0;
    CHECK(c.P() == 4);
    CHECK(c.Q() == 4);
    PoolShape p;
    p.H = 5; p.W = 4;
    CHECK(p.P() == 2);
    CHECK(p.Q() == 2);
}

// The CUDA implicit-GEMM kernels gather X[(c,r,t), (n,p,q)] through implicit_gemm_x_offset; here the
// whole product W·X, computed with that gather on the CPU, must equal the reference convolution.
TEST_CASE("implicit GEMM gather reproduces the reference convolution for odd geometries", "[index]") {
    struct Case { int N, C, H, W, K, R, S, stride, pad; };
    for (const Case& c : {Case{2, 3, 7, 5, 4, 3, 3, 1, 1}, Case{1, 5, 9, 11, 3, 5, 5, 2, 2}, Case{2, 2, 6, 9, 3, 2, 3, 2, 0},
                          Case{1, 1, 1, 1, 2, 1, 1, 1, 0}, Case{1, 4, 8, 7, 2, 3, 3, 3, 2}}) {
        ConvShape s;
        s.N = c.N; s.C = c.C; s.H = c.H; s.W = c.W; s.K = c.K; s.R = c.R; s.S = c.S;
        s.stride_h = s.stride_w = c.stride; s.pad_h = s.pad_w = c.pad;
        const std::vector<double> x = Tensor::uniform({s.N, s.C, s.H, s.W}, -1.0, 1.0, 5, DType::F64).to_vector<double>();
        const std::vector<double> w = Tensor::uniform({s.K, s.C, s.R, s.S}, -1.0, 1.0, 6, DType::F64).to_vector<double>();
        std::vector<double> ref(size_t(s.y_size())), gemm(size_t(s.y_size()));
        cpu::conv2d_forward<double>(x.data(), w.data(), nullptr, ref.data(), s);
        const int CRS = s.C * s.R * s.S, PQ = s.P() * s.Q();
        for (int k = 0; k < s.K; ++k)
            for (long long j = 0; j < (long long)s.N * PQ; ++j) {
                double acc = 0;
                for (int kk = 0; kk < CRS; ++kk) {
                    const long long off = implicit_gemm_x_offset(s, kk, j);
                    if (off >= 0) acc += w[size_t(k) * CRS + size_t(kk)] * x[size_t(off)];
                }
                gemm[size_t((j / PQ) * s.K * PQ + k * PQ + j % PQ)] = acc;
            }
        for (size_t i = 0; i < ref.size(); ++i) REQUIRE(gemm[i] == Approx(ref[i]).margin(1e-12));
    }
}

// The CUDA ladder computes backward-data as the forward of transposed_conv(s) with flipped, transposed
// filters; on the CPU reference kernels that must give exactly the reference backward-data.
TEST_CASE("backward-data equals the forward of the transposed convolution with flipped filters", "[index]") {
    struct Case { int C, H, W, K, R, S, pad; };
    for (const Case& c : {Case{3, 7, 5, 4, 3, 3, 1}, Case{2, 6, 9, 5, 5, 5, 2}, Case{4, 5, 5, 3, 3, 3, 0}, Case{2, 4, 6, 3, 2, 3, 1}}) {
        ConvShape s;
        s.N = 2; s.C = c.C; s.H = c.H; s.W = c.W; s.K = c.K; s.R = c.R; s.S = c.S; s.pad_h = s.pad_w = c.pad;
        REQUIRE(has_transposed_conv(s));
        const ConvShape t = transposed_conv(s);
        REQUIRE(t.P() == s.H);
        REQUIRE(t.Q() == s.W);
        const std::vector<double> dy = Tensor::uniform({s.N, s.K, s.P(), s.Q()}, -1.0, 1.0, 7, DType::F64).to_vector<double>();
        const std::vector<double> w = Tensor::uniform({s.K, s.C, s.R, s.S}, -1.0, 1.0, 8, DType::F64).to_vector<double>();
        std::vector<double> wt(w.size()), dx(size_t(s.x_size())), via(size_t(s.x_size()));
        for (int k = 0; k < s.K; ++k)
            for (int ch = 0; ch < s.C; ++ch)
                for (int r = 0; r < s.R; ++r)
                    for (int q = 0; q < s.S; ++q)
                        wt[size_t(((ch * s.K + k) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - q))] =
                            w[size_t(((k * s.C + ch) * s.R + r) * s.S + q)];
        cpu::conv2d_backward_data<double>(dy.data(), w.data(), dx.data(), s);
        cpu::conv2d_forward<double>(dy.data(), wt.data(), nullptr, via.data(), t);
        for (size_t i = 0; i < dx.size(); ++i) REQUIRE(via[i] == Approx(dx[i]).margin(1e-12));
    }
}
