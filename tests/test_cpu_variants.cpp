// Every non-reference CPU variant (e.g. the OpenBLAS im2col+GEMM conv) against the reference kernels,
// forward and backward, on random odd shapes. Criterion as for CUDA: ‖out − ref‖/‖ref‖ < 2e-5.
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/registry.h"
#include "layers/modules.h"
#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/gemm.h"
#include "tests/catch.h"
#include "tests/test_util.h"
#include <cstdint>
#include <functional>
#include <iostream>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel.h"
#include <cmath>
#include <vector>

using namespace nst;

TEST_CASE("conv2d: every CPU variant matches the reference, forward and all three gradients", "[cpu]") {
    struct Case { int N, C, H, W, K, R, S, stride, pad; };
    const Case cases[] = {{1, 3, 7, 5, 5, 3, 3, 1, 1}, {2, 17, 13, 9, 33, 3, 3, 2, 1}, {1, 1, 1, 1, 3, 1, 1, 1, 0},
                          {2, 5, 11, 8, 7, 5, 5, 1, 2}, {1, 6, 9, 10, 4, 2, 3, 2, 1}, {1, 67, 45, 38, 65, 3, 3, 1, 1},
                          // no padding (networks that reflect-pad first): the direct kernel's shapes (thin, stride 1
                          // and 2, 3x3 up to 64 channels; rows of 33 and 70 columns cross its 32-column tiles) and
                          // Winograd's interior of the pad-1 conv (3x3, more than 64 channels)
                          {1, 3, 21, 41, 32, 9, 9, 1, 0}, {1, 4, 19, 40, 3, 9, 9, 1, 0}, {2, 5, 15, 70, 6, 3, 3, 2, 0},
                          {1, 32, 17, 35, 32, 3, 3, 2, 0}, {1, 20, 11, 45, 24, 3, 3, 1, 0}, {1, 80, 9, 13, 70, 3, 3, 1, 0},
                          // few filters, stride 1: the direct backward-weight's blocks of 3 filters (5 = 3 + 2,
                          // 4 = 3 + 1) and 16-column tails, and backward-data as the flipped direct forward
                          {2, 7, 12, 37, 5, 3, 3, 1, 0}, {3, 6, 20, 33, 4, 9, 9, 1, 0}};
    int variants = 0;
    for (const auto& v : conv2d_variants(DeviceKind::CPU)) {
        if (std::string(v.name) == "reference") continue;
        ++variants;
        uint64_t seed = 100;
        for (const Case& c : cases) {
            INFO("variant " << v.name << ": N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " "
                            << c.R << "x" << c.S << " stride " << c.stride << " pad " << c.pad);
            auto run = [&](const char* variant, Tensor& x, Tensor& w, Tensor& b) {
                ScopedVariant pin("conv2d", variant);
                Tensor y = conv2d(x, w, b, c.stride, c.pad);
                y.backward(Tensor::uniform(y.shape(), -1, 1, seed + 7));
                return y;
            };
            Tensor x1 = Tensor::uniform({c.N, c.C, c.H, c.W}, -1, 1, ++seed).requires_grad_();
            Tensor w1 = Tensor::uniform({c.K, c.C, c.R, c.S}, -1, 1, ++seed).requires_grad_();
            Tensor b1 = Tensor::uniform({c.K}, -1, 1, ++seed).requires_grad_();
            Tensor x2 = x1.clone().requires_grad_(), w2 = w1.clone().requires_grad_(), b2 = b1.clone().requires_grad_();
            const Tensor ref = run("reference", x1, w1, b1);
            const Tensor out = run(v.name, x2, w2, b2);
            CHECK(test::rel_err(out, ref) < 2e-5);
            CHECK(test::rel_err(x2.grad(), x1.grad()) < 2e-5);
            CHECK(test::rel_err(w2.grad(), w1.grad()) < 2e-5);
            CHECK(test::rel_err(b2.grad(), b1.grad()) < 2e-5);
        }
    }
    CHECK(variants >= 2);  // winograd and im2col_gemm on the project's GEMM, in every build
}

// The fused ReLU (ConvShape::relu) must equal relu(conv2d) to the bit in every variant: the epilogue
// rectifies the very value the plain kernel stores. Shapes reach every path: Winograd (same and valid),
// the direct kernel (thin, 3x3 up to 64 channels, stride 2), im2col + GEMM (5x5, 1x1, stride 2 pad 1).
TEST_CASE("conv2d_relu: every CPU variant equals relu(conv2d) to the bit, forward and gradients", "[cpu]") {
    struct Case { int N, C, H, W, K, R, S, stride, pad; };
    const Case cases[] = {{1, 3, 7, 5, 5, 3, 3, 1, 1},    {2, 17, 13, 9, 33, 3, 3, 2, 1}, {2, 5, 11, 8, 7, 5, 5, 1, 2},
                          {1, 67, 45, 38, 65, 3, 3, 1, 1}, {1, 3, 21, 41, 32, 9, 9, 1, 0}, {2, 5, 15, 70, 6, 3, 3, 2, 0},
                          {1, 80, 9, 13, 70, 3, 3, 1, 0},  {1, 4, 6, 5, 3, 1, 1, 1, 0}};
    for (const auto& v : conv2d_variants(DeviceKind::CPU)) {
        ScopedVariant pin("conv2d", v.name);
        uint64_t seed = 300;
        for (const Case& c : cases) {
            INFO("variant " << v.name << ": N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " "
                            << c.R << "x" << c.S << " stride " << c.stride << " pad " << c.pad);
            Tensor x1 = Tensor::uniform({c.N, c.C, c.H, c.W}, -1, 1, ++seed).requires_grad_();
            Tensor w1 = Tensor::uniform({c.K, c.C, c.R, c.S}, -1, 1, ++seed).requires_grad_();
            Tensor b1 = Tensor::uniform({c.K}, -1, 1, ++seed).requires_grad_();
            Tensor x2 = x1.clone().requires_grad_(), w2 = w1.clone().requires_grad_(), b2 = b1.clone().requires_grad_();
            const Tensor g = Tensor::uniform({c.N, c.K, (c.H + 2 * c.pad - c.R) / c.stride + 1,
                                              (c.W + 2 * c.pad - c.S) / c.stride + 1}, -1, 1, ++seed);
            const Tensor g0 = g.clone();
            Tensor two = relu(conv2d(x1, w1, b1, c.stride, c.pad));
            Tensor one = conv2d_relu(x2, w2, b2, c.stride, c.pad);
            // Seeded with the caller's g, whose buffer the fused backward must not mask in place...
            two.backward(g);
            one.backward(g);
            CHECK(test::same_bits(g, g0));
            REQUIRE(test::same_bits(one, two));
            int64_t zeros = 0;
            for (int64_t i = 0; i < one.numel(); ++i) zeros += one.data<float>()[i] == 0.f;
            CHECK(zeros > 0);               // the mask rectified something...
            CHECK(zeros < one.numel());     // ...and kept something
            CHECK(test::same_bits(x2.grad(), x1.grad()));
            CHECK(test::same_bits(w2.grad(), w1.grad()));
            CHECK(test::same_bits(b2.grad(), b1.grad()));
            // ...and through a loss, where the engine holds the only reference and it is masked in place.
            for (Tensor* t : {&x1, &w1, &b1, &x2, &w2, &b2}) t->zero_grad();
            sum(mul(relu(conv2d(x1, w1, b1, c.stride, c.pad)), g)).backward();
            sum(mul(conv2d_relu(x2, w2, b2, c.stride, c.pad), g)).backward();
            CHECK(test::same_bits(x2.grad(), x1.grad()));
            CHECK(test::same_bits(w2.grad(), w1.grad()));
            CHECK(test::same_bits(b2.grad(), b1.grad()));
        }
    }
}

TEST_CASE("conv2d: Winograd with prepared frozen weights matches the reference across tile blocks", "[cpu]") {
    // Blocks of 8 tiles: the 13x19 image has 4x5 tiles, so forward and the overlapping backward scatter
    // both cross block boundaries.
    const int64_t old = cpu::set_winograd_buffer_floats(36 * (7 + 9) * 8);
    struct Restore { int64_t v; ~Restore() { cpu::set_winograd_buffer_floats(v); } } restore{old};
    ScopedVariant pin("conv2d", "winograd");
    Tensor w = Tensor::uniform({9, 7, 3, 3}, -1, 1, 5), b = Tensor::uniform({9}, -1, 1, 6);
    const PreparedConvWeights prep = prepare_conv2d_weights(w, 1, 1);
    REQUIRE(prep.data.defined());
    CHECK(prep.data.numel() == 36 * cpu::packed_a_floats(9, 7));  // U, packed once
    CHECK_FALSE(prepare_conv2d_weights(w, 2, 1).data.defined());  // stride 2: no Winograd, no preparation
    const Conv2d layer(w, b, 1, 1);
    for (const Shape& xs : {Shape{2, 7, 13, 19}, Shape{1, 7, 1, 1}, Shape{1, 7, 5, 4}}) {
        INFO("x " << shape_str(xs));
        const Tensor dy = Tensor::uniform({xs[0], 9, xs[2], xs[3]}, -1, 1, 8);
        Tensor x1 = Tensor::uniform(xs, -1, 1, 7).requires_grad_();
        Tensor x2 = x1.clone().requires_grad_();
        Tensor x3 = x1.clone().requires_grad_();
        Tensor ref;
        {
            ScopedVariant r("conv2d", "reference");
            ref = conv2d(x1, w, b, 1, 1);
            ref.backward(dy);
        }
        Tensor via_op = conv2d(x2, w, b, 1, 1, &prep);
        via_op.backward(dy);
        Tensor via_module = layer.forward(x3);
        via_module.backward(dy);
        CHECK(test::rel_err(via_op, ref) < 2e-5);
        CHECK(test::rel_err(x2.grad(), x1.grad()) < 2e-5);
        CHECK(test::rel_err(via_module, ref) < 2e-5);
        CHECK(test::rel_err(x3.grad(), x1.grad()) < 2e-5);
    }
}

TEST_CASE("gram: every CPU variant matches the reference, forward and backward", "[cpu]") {
    // The last is wide enough (HW > 2 x 2048) for the BLAS variant to split its columns over threads.
    const Shape shapes[] = {{1, 3, 7, 5}, {2, 17, 13, 9}, {2, 1, 1, 1}, {1, 65, 37, 41}, {2, 33, 71, 67}};
    int variants = 0;
    for (const auto& v : gram_variants(DeviceKind::CPU)) {
        if (std::string(v.name) == "reference") continue;
        ++variants;
        uint64_t seed = 200;
        for (const Shape& s : shapes) {
            INFO("variant " << v.name << " shape " << shape_str(s));
            Tensor x1 = Tensor::uniform(s, -1, 1, ++seed).requires_grad_();
            Tensor x2 = x1.clone().requires_grad_();
            const Tensor R = Tensor::uniform({s[0], s[1], s[1]}, -1, 1, ++seed);
            Tensor ref, out;
            {
                ScopedVariant pin("gram", "reference");
                ref = gram(x1);
                ref.backward(R);
            }
            {
                ScopedVariant pin("gram", v.name);
                out = gram(x2);
                out.backward(R);
            }
            CHECK(test::rel_err(out, ref) < 2e-5);
            CHECK(test::rel_err(x2.grad(), x1.grad()) < 2e-5);
        }
    }
    CHECK(variants >= 1);  // gemm, in every build
}

// The threaded variants run the reference on pieces of the data, so they must agree with it exactly.
// Sizes are odd and above the threads' grain; three threads make uneven pieces on any machine.
TEST_CASE("relu, pooling and pointwise vector ops: every CPU variant equals the reference exactly", "[cpu]") {
    const int old_threads = cpu_threads();
    set_cpu_threads(3);
    struct Restore { int n; ~Restore() { set_cpu_threads(n); } } restore{old_threads};
    const int64_t n = 200003;
    auto rnd = [](int64_t len, uint64_t seed) { return Tensor::uniform({len}, -1, 1, seed).to_vector<float>(); };
    const std::vector<float> a = rnd(n, 1), b = rnd(n, 2), dy = rnd(n, 3);
    const float g = 0.37f;
    using Vec = std::vector<float>;
    int compared = 0;

    const ReluVariant& rref = relu_variants(DeviceKind::CPU).back();
    REQUIRE(std::string(rref.name) == "reference");
    for (const auto& v : relu_variants(DeviceKind::CPU)) {
        INFO("relu " << v.name);
        Vec y1(n), y2(n), dx1(n), dx2(n);
        rref.forward(a.data(), y1.data(), n);
        v.forward(a.data(), y2.data(), n);
        rref.backward(y1.data(), dy.data(), dx1.data(), n);
        v.backward(y1.data(), dy.data(), dx2.data(), n);
        CHECK(y1 == y2);
        CHECK(dx1 == dx2);
        ++compared;
    }

    for (bool is_max : {true, false}) {
        const auto table = is_max ? max_pool_variants(DeviceKind::CPU) : avg_pool_variants(DeviceKind::CPU);
        const PoolVariant& ref = table.back();
        REQUIRE(std::string(ref.name) == "reference");
        PoolShape s;
        s.N = 2; s.C = 17; s.H = 67; s.W = 71; s.R = s.S = 3; s.stride_h = s.stride_w = 2; s.pad_h = s.pad_w = 1;
        const Vec x = rnd(s.x_size(), 4), up = rnd(s.y_size(), 5);
        for (const auto& v : table) {
            INFO((is_max ? "max_pool " : "avg_pool ") << v.name);
            Vec y1(size_t(s.y_size())), y2(size_t(s.y_size())), dx1(size_t(s.x_size())), dx2(size_t(s.x_size()));
            std::vector<int32_t> am1(size_t(s.y_size())), am2(size_t(s.y_size()));
            ref.forward(x.data(), y1.data(), ref.uses_argmax ? am1.data() : nullptr, s);
            v.forward(x.data(), y2.data(), v.uses_argmax ? am2.data() : nullptr, s);
            ref.backward(x.data(), y1.data(), ref.uses_argmax ? am1.data() : nullptr, up.data(), dx1.data(), s);
            v.backward(x.data(), y2.data(), v.uses_argmax ? am2.data() : nullptr, up.data(), dx2.data(), s);
            CHECK(y1 == y2);
            CHECK(dx1 == dx2);
            ++compared;
        }
    }

    const VectorVariant& vref = vector_variants(DeviceKind::CPU).back();
    REQUIRE(std::string(vref.name) == "reference");
    for (const auto& v : vector_variants(DeviceKind::CPU)) {
        INFO("vector " << v.name);
        Vec r(n), o(n);
        const auto same = [&](auto&& run) {
            run(vref, r.data());
            run(v, o.data());
            return r == o;
        };
        CHECK(same([&](const VectorVariant& k, float* y) { k.add(a.data(), b.data(), y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.sub(a.data(), b.data(), y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.mul(a.data(), b.data(), y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.scale(a.data(), -1.7f, y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.fill_scaled(&g, 3.f, y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.fill(2.5f, y, n); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.mse_backward(a.data(), b.data(), &g, n, y); }));
        CHECK(same([&](const VectorVariant& k, float* y) { k.sum_squares_backward(a.data(), &g, n, y); }));
        ++compared;
    }
    CHECK(compared >= 4);  // at least the reference rows themselves
}

TEST_CASE("conv2d direct kernel runs on AVX-512 and matches the reference on the style networks' shapes", "[cpu]") {
    struct Case { int C, H, W, K, R, stride; };
    // The 26-style network's first and last convs, a strided 3x3, its residual 3x3 (odd sizes), TransformerNet's
    // 9x9 3->32 on a row count that is not a multiple of anything.
    const Case cases[] = {{3, 27, 77, 32, 9, 1}, {4, 20, 41, 3, 9, 1}, {32, 17, 67, 32, 3, 2}, {32, 13, 35, 32, 3, 1}, {8, 9, 50, 4, 3, 1}};
    for (const Case& c : cases) {
        ConvShape s;
        s.C = c.C, s.H = c.H, s.W = c.W, s.K = c.K, s.R = s.S = c.R, s.stride_h = s.stride_w = c.stride;
        INFO("C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " " << c.R << "x" << c.R << " stride " << c.stride);
        REQUIRE(cpu::conv2d_direct_fits(s));
        const Tensor x = Tensor::uniform({1, c.C, c.H, c.W}, -1, 1, 31), w = Tensor::uniform({c.K, c.C, c.R, c.R}, -1, 1, 32);
        const Tensor b = Tensor::uniform({c.K}, -1, 1, 33);
        Tensor y = Tensor::zeros({1, c.K, s.P(), s.Q()}), ref = Tensor::zeros({1, c.K, s.P(), s.Q()});
        cpu::conv2d_forward<float>(x.data<float>(), w.data<float>(), b.data<float>(), ref.data<float>(), s);
        if (!__builtin_cpu_supports("avx512f")) {
            CHECK_FALSE(cpu::conv2d_forward_direct(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), s));
            std::cout << "NST_SKIPPED: this CPU has no AVX-512F; the direct kernel declines and im2col+GEMM runs\n";
            return;
        }
        REQUIRE(cpu::conv2d_forward_direct(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), s));
        CHECK(test::rel_err(y, ref) < 2e-6);
    }
    ConvShape same;  // padded convs are not its job
    same.C = 3, same.H = same.W = 8, same.K = 8, same.R = same.S = 3, same.pad_h = same.pad_w = 1;
    CHECK_FALSE(cpu::conv2d_direct_fits(same));
}

TEST_CASE("feed-forward ops: the fast CPU variant matches the reference, forward and backward", "[cpu]") {
    int compared = 0;
    for (const auto& v : feedforward_variants(DeviceKind::CPU)) {
        if (std::string(v.name) == "reference") continue;
        ++compared;
        auto both = [&](const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Shape>& shapes, uint64_t seed) {
            std::vector<Tensor> a, b;
            for (const Shape& sh : shapes) {
                a.push_back(Tensor::uniform(sh, -2, 3, ++seed).requires_grad_());
                b.push_back(a.back().clone().requires_grad_());
            }
            Tensor ref, out;
            {
                ScopedVariant pin("feedforward", "reference");
                ref = f(a);
                ref.backward(Tensor::uniform(ref.shape(), -1, 1, seed + 100));
            }
            {
                ScopedVariant pin("feedforward", v.name);
                out = f(b);
                out.backward(Tensor::uniform(out.shape(), -1, 1, seed + 100));
            }
            CHECK(test::rel_err(out, ref) < 2e-5);
            for (size_t i = 0; i < a.size(); ++i) CHECK(test::rel_err(b[i].grad(), a[i].grad()) < 2e-5);
        };
        INFO("variant " << v.name);
        // Instance norm: no affine, per channel (N = 2 shares parameters: the reference's backward), per sample.
        both([](const auto& in) { return instance_norm(in[0]); }, {{1, 5, 37, 29}}, 1);
        both([](const auto& in) { return instance_norm(in[0], in[1], in[2]); }, {{2, 3, 33, 17}, {3}, {3}}, 2);
        both([](const auto& in) { return instance_norm(in[0], in[1], in[2]); }, {{2, 4, 9, 70}, {2, 4}, {2, 4}}, 3);
        both([](const auto& in) { return instance_norm(in[0], in[1], in[2]); }, {{1, 32, 64, 48}, {32}, {32}}, 4);
        both([](const auto& in) { return instance_norm(in[0]); }, {{2, 5, 1, 1}}, 10);  // planes of one value: exactly 0
        both([](const auto& in) { return instance_norm(in[0], in[1], in[2]); }, {{1, 3, 1, 1}, {3}, {3}}, 11);
        both([](const auto& in) { return reflection_pad2d(in[0], 4, 3, 2, 4); }, {{2, 3, 11, 9}}, 5);
        both([](const auto& in) { return reflection_pad2d(in[0], 0, 3, 0, 1); }, {{1, 32, 40, 41}}, 6);
        both([](const auto& in) { return resize_nearest(in[0], 22, 34); }, {{1, 5, 11, 17}}, 7);  // x2
        both([](const auto& in) { return resize_nearest(in[0], 17, 9); }, {{2, 3, 11, 13}}, 8);   // odd factors
        both([](const auto& in) { return sigmoid(in[0]); }, {{1, 3, 129, 257}}, 9);
        // The ONNX graphs' per-channel affine (shared parameters over N = 2: the reference's backward; per
        // sample), plane means and quantisation, on odd shapes and the arbitrary-style network's.
        both([](const auto& in) { return channel_affine(in[0], in[1], in[2]); }, {{2, 3, 33, 17}, {3}, {3}}, 12);
        both([](const auto& in) { return channel_affine(in[0], in[1], in[2]); }, {{2, 4, 9, 70}, {2, 4}, {2, 4}}, 13);
        both([](const auto& in) { return channel_affine(in[0], in[1], in[2]); }, {{1, 32, 96, 96}, {32}, {32}}, 14);
        both([](const auto& in) { return spatial_mean(in[0]); }, {{1, 8, 384, 384}}, 15);
        both([](const auto& in) { return spatial_mean(in[0]); }, {{2, 5, 7, 3}}, 16);
        both([](const auto& in) { return quantize_linear(in[0], 0.0123, -7); }, {{1, 3, 129, 257}}, 17);
    }
    CHECK(compared >= 1);
}

TEST_CASE("blas1 and optim: every CPU variant matches the reference, and threaded sums do not depend on the thread count",
          "[cpu]") {
    // Lengths around the threaded variants' chunk (8192) and lane count (16), and an image's 3·256·170.
    for (const int64_t n : {int64_t(1), int64_t(15), int64_t(17), int64_t(8191), int64_t(8193), int64_t(3 * 256 * 170)}) {
        std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
        uint64_t state = 12345 + uint64_t(n);
        for (size_t i = 0; i < x.size(); ++i) {  // a fixed pseudo-random fill, values of mixed sign and size
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = float(int64_t(state >> 40) % 2001 - 1000) / 997.f;
            y[i] = float(int64_t(state >> 20) % 2001 - 1000) / 1013.f;
        }
        double exact = 0, sq = 0;
        for (int64_t i = 0; i < n; ++i) exact += double(x[size_t(i)]) * y[size_t(i)], sq += double(x[size_t(i)]) * x[size_t(i)];
        const auto& ref = blas1_variants(DeviceKind::CPU).back();
        REQUIRE(std::string(ref.name) == "reference");
        for (const auto& v : blas1_variants(DeviceKind::CPU)) {
            INFO("blas1 variant " << v.name << ", n " << n);
            float d1 = 0, d2 = 0, r = 0;
            const int threads = cpu::pool_threads();
            cpu::set_pool_threads(1);
            v.dot(x.data(), y.data(), n, &d1);
            cpu::set_pool_threads(3);
            v.dot(x.data(), y.data(), n, &d2);
            cpu::set_pool_threads(threads);
            CHECK(d1 == d2);  // bit for bit
            CHECK(d1 == Approx(exact).epsilon(1e-6).margin(1e-6));
            v.nrm2(x.data(), n, &r);
            CHECK(r == Approx(std::sqrt(sq)).epsilon(1e-6));
            std::vector<float> a = y, b = y;
            v.axpy(n, -0.75f, x.data(), a.data());
            ref.axpy(n, -0.75f, x.data(), b.data());
            CHECK(a == b);
            v.scal(n, 1.5f, a.data());
            ref.scal(n, 1.5f, b.data());
            CHECK(a == b);
        }
        const auto& oref = optim_variants(DeviceKind::CPU).back();
        REQUIRE(std::string(oref.name) == "reference");
        for (const auto& v : optim_variants(DeviceKind::CPU)) {
            INFO("optim variant " << v.name << ", n " << n);
            const float coef = -0.3f;
            std::vector<float> a = y, b = y;
            v.axpy_s(n, &coef, 2.f, x.data(), a.data());
            oref.axpy_s(n, &coef, 2.f, x.data(), b.data());
            CHECK(a == b);
            v.scal_s(n, &coef, a.data());
            oref.scal_s(n, &coef, b.data());
            CHECK(a == b);
        }
    }
}
