// Float64 central-difference gradient checks of every op's backward, on the CPU reference kernels.
#include <cmath>
#include <vector>

#include "core/ops.h"
#include "nst/objective.h"
#include "tests/catch.h"
#include "tests/test_util.h"

using namespace nst;
using nst::test::gradcheck;
using nst::test::rand64;

namespace {
void expect_ok(const test::GradcheckReport& r) {
    INFO("checked " << r.checked << ", skipped " << r.skipped << " as kinks, failed " << r.failed
                    << ", worst error " << r.worst << "; " << r.first_failure);
    CHECK(r.failed == 0);
    CHECK(r.checked > 0);
    CHECK(r.skipped * 10 <= r.checked);  // kink skipping must not hollow the check out
}
}  // namespace

TEST_CASE("gradcheck conv2d 3x3 stride 1 pad 1 with bias", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2], 1, 1); },
                        {rand64({2, 3, 5, 4}, 1), rand64({4, 3, 3, 3}, 2), rand64({4}, 3)}));
}

TEST_CASE("gradcheck conv2d stride 2 no padding no bias", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return conv2d(in[0], in[1], Tensor(), 2, 0); },
                        {rand64({1, 2, 7, 6}, 4), rand64({3, 2, 3, 3}, 5)}));
}

TEST_CASE("gradcheck conv2d rectangular 2x3 kernel stride 2 pad 1", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2], 2, 1); },
                        {rand64({2, 2, 5, 7}, 6), rand64({3, 2, 2, 3}, 7), rand64({3}, 8)}));
}

TEST_CASE("gradcheck conv2d 1x1 and 5x5 pad 2", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return conv2d(in[0], in[1], in[2]); },
                        {rand64({1, 3, 3, 4}, 9), rand64({2, 3, 1, 1}, 10), rand64({2}, 11)}));
    expect_ok(gradcheck([](const auto& in) { return conv2d(in[0], in[1], Tensor(), 1, 2); },
                        {rand64({1, 2, 4, 5}, 12), rand64({2, 2, 5, 5}, 13)}));
}

TEST_CASE("gradcheck conv2d_relu (the ReLU in the conv's epilogue): x, w and b, with and without bias", "[gradcheck]") {
    // About half the outputs are rectified, so both sides of the mask are checked.
    expect_ok(gradcheck([](const auto& in) { return conv2d_relu(in[0], in[1], in[2], 1, 1); },
                        {rand64({2, 3, 5, 4}, 41), rand64({4, 3, 3, 3}, 42), rand64({4}, 43)}));
    expect_ok(gradcheck([](const auto& in) { return conv2d_relu(in[0], in[1], Tensor(), 2, 1); },
                        {rand64({1, 2, 7, 6}, 44), rand64({3, 2, 3, 3}, 45)}));
}

TEST_CASE("gradcheck relu skips its kink", "[gradcheck]") {
    // Values placed exactly on the kink must be detected and skipped, the rest checked.
    Tensor x = rand64({2, 3, 4, 5}, 14, false);
    x.data<double>()[3] = 0.0;
    x.data<double>()[17] = 0.0;
    x.requires_grad_();
    const auto r = gradcheck([](const auto& in) { return relu(in[0]); }, {x});
    expect_ok(r);
    CHECK(r.skipped == 2);
}

TEST_CASE("gradcheck max_pool2d 2x2/2 and overlapping 3x3/2 pad 1", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return max_pool2d(in[0], 2, 2, 0); }, {rand64({2, 3, 6, 5}, 15)}));
    expect_ok(gradcheck([](const auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {rand64({1, 2, 7, 6}, 16)}));
}

TEST_CASE("gradcheck max_pool2d skips ties", "[gradcheck]") {
    // A tie inside a window is a kink: nudging either element changes the winner.
    Tensor x = rand64({1, 1, 4, 4}, 17, false);
    x.data<double>()[1] = x.data<double>()[0] = 2.0;  // tie in the first window, and its max
    x.requires_grad_();
    const auto r = gradcheck([](const auto& in) { return max_pool2d(in[0], 2, 2, 0); }, {x});
    CHECK(r.failed == 0);
    CHECK(r.skipped == 2);
    CHECK(r.checked == 14);
}

TEST_CASE("gradcheck avg_pool2d 2x2/2 and 3x3/2 pad 1", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return avg_pool2d(in[0], 2, 2, 0); }, {rand64({2, 3, 5, 4}, 18)}));
    expect_ok(gradcheck([](const auto& in) { return avg_pool2d(in[0], 3, 2, 1); }, {rand64({1, 2, 7, 6}, 19)}));
}

TEST_CASE("gradcheck the guided Gram of --style-masks (features through a soft mask, by the mask's energy)",
          "[gradcheck]") {
    const Tensor mask = Tensor::uniform({1, 3, 4, 5}, 0.0, 1.0, 31, DType::F64);  // a constant: no gradient
    const std::vector<double> m = mask.to_vector<double>();
    double energy = 0;
    for (size_t p = 0; p < 20; ++p) energy += m[p] * m[p];  // Σ over the pixels of one channel
    // The same mask in every channel, as the objective expands it.
    std::vector<double> rep;
    for (int c = 0; c < 3; ++c) rep.insert(rep.end(), m.begin(), m.begin() + 20);
    const Tensor expanded = Tensor::from_vector(rep, {1, 3, 4, 5});
    expect_ok(gradcheck([&](const auto& in) { return guided_gram(in[0], expanded, energy); }, {rand64({1, 3, 4, 5}, 21)}));
}

TEST_CASE("gradcheck crop2d (a tile's window) and its forward against the plain loop", "[gradcheck]") {
    const Tensor x = rand64({2, 3, 7, 9}, 40);
    expect_ok(gradcheck([](const auto& in) { return crop2d(in[0], 2, 3, 4, 5); }, {x}));
    const Tensor y = crop2d(x, 2, 3, 4, 5);
    const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
    for (int64_t nc = 0; nc < 6; ++nc)
        for (int64_t i = 0; i < 4; ++i)
            for (int64_t j = 0; j < 5; ++j) CHECK(yv[size_t((nc * 4 + i) * 5 + j)] == xv[size_t((nc * 7 + i + 2) * 9 + j + 3)]);
    CHECK_THROWS_WITH(crop2d(x, 4, 3, 4, 5), Catch::Contains("does not fit"));
}

TEST_CASE("gradcheck gram", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return gram(in[0]); }, {rand64({2, 3, 4, 5}, 20)}));
}

TEST_CASE("gradcheck losses: sum_squares, mse (both sides), total_variation", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return sum_squares(in[0]); }, {rand64({2, 3, 4}, 21)}));
    expect_ok(gradcheck([](const auto& in) { return mse(in[0], in[1]); }, {rand64({3, 5}, 22), rand64({3, 5}, 23)}));
    expect_ok(gradcheck([](const auto& in) { return total_variation(in[0]); }, {rand64({2, 2, 4, 5}, 24)}));
}

TEST_CASE("gradcheck elementwise add sub mul scale sum reshape", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return add(in[0], in[1]); }, {rand64({7}, 25), rand64({7}, 26)}));
    expect_ok(gradcheck([](const auto& in) { return sub(in[0], in[1]); }, {rand64({7}, 27), rand64({7}, 28)}));
    expect_ok(gradcheck([](const auto& in) { return mul(in[0], in[1]); }, {rand64({2, 3}, 29), rand64({2, 3}, 30)}));
    expect_ok(gradcheck([](const auto& in) { return scale(in[0], -2.5); }, {rand64({5}, 31)}));
    expect_ok(gradcheck([](const auto& in) { return sum(in[0]); }, {rand64({3, 4}, 32)}));
    expect_ok(gradcheck([](const auto& in) { return in[0].reshape({4, 3}); }, {rand64({3, 4}, 33)}));
}

TEST_CASE("gradcheck a Gatys-shaped graph: conv, relu, pool, gram, mse, tv", "[gradcheck]") {
    // One image through two conv layers with frozen weights; content, style and TV losses summed.
    const Tensor w1 = rand64({4, 3, 3, 3}, 34, false), b1 = rand64({4}, 35, false);
    const Tensor w2 = rand64({5, 4, 3, 3}, 36, false);
    const Tensor content = rand64({1, 5, 3, 3}, 37, false), style = rand64({1, 5, 5}, 38, false);
    auto f = [&](const std::vector<Tensor>& in) {
        Tensor h1 = relu(conv2d(in[0], w1, b1, 1, 1));
        Tensor h2 = relu(conv2d(max_pool2d(h1), w2, Tensor(), 1, 1));
        Tensor loss = add(scale(mse(h2, content), 5.0), scale(mse(gram(h2), style), 100.0));
        return add(loss, scale(total_variation(in[0]), 1e-3));
    };
    expect_ok(gradcheck(f, {rand64({1, 3, 6, 7}, 39)}));
}

// ---- the feed-forward networks' ops (issue #23) ----

TEST_CASE("gradcheck instance_norm: no affine, per-channel affine, per-sample affine", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return instance_norm(in[0]); }, {rand64({2, 3, 4, 5}, 60)}));
    expect_ok(gradcheck([](const auto& in) { return instance_norm(in[0], in[1], in[2]); },
                        {rand64({2, 3, 3, 5}, 61), rand64({3}, 62), rand64({3}, 63)}));
    expect_ok(gradcheck([](const auto& in) { return instance_norm(in[0], in[1], in[2], 1e-3); },
                        {rand64({2, 3, 4, 3}, 64), rand64({2, 3}, 65), rand64({2, 3}, 66)}));
    // A 1x1 plane has zero variance: the output is the bias, the gradient of x zero, all finite.
    expect_ok(gradcheck([](const auto& in) { return instance_norm(in[0], in[1], in[2]); },
                        {rand64({2, 2, 1, 1}, 67), rand64({2}, 68), rand64({2}, 69)}));
}

TEST_CASE("instance_norm: each plane to mean 0 and variance 1 (biased, + eps), then scaled and shifted",
          "[gradcheck]") {
    // One plane 1, 2, 3, 4: mean 2.5, biased variance 1.25.
    const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2});
    const Tensor w = Tensor::from_vector(std::vector<double>{2}, {1});
    const Tensor b = Tensor::from_vector(std::vector<double>{0.5}, {1});
    const std::vector<double> y = instance_norm(x, w, b, 1e-5).to_vector<double>();
    for (int i = 0; i < 4; ++i) CHECK(y[size_t(i)] == Approx((i + 1 - 2.5) / std::sqrt(1.25 + 1e-5) * 2 + 0.5).epsilon(1e-12));
    CHECK_THROWS_WITH(instance_norm(x, Tensor::from_vector(std::vector<double>{1, 2}, {2})),
                      Catch::Contains("weight") && Catch::Contains("must have shape [1]"));
    CHECK_THROWS_WITH(instance_norm(Tensor::from_vector(std::vector<double>{1, 2}, {2})),
                      Catch::Contains("instance_norm"));
}

TEST_CASE("gradcheck conditional instance norm: the style rows mixed by alpha", "[gradcheck]") {
    const Tensor alpha = Tensor::from_vector(std::vector<double>{0.25, 0.75, 0.0, 1.0, 0.0, 0.0}, {2, 3});
    expect_ok(gradcheck([&](const auto& in) { return conditional_instance_norm(in[0], in[1], in[2], alpha); },
                        {rand64({2, 4, 3, 3}, 70), rand64({3, 4}, 71), rand64({3, 4}, 72)}));
    // One-hot alpha is the plain instance norm with that style's row.
    const Tensor x = rand64({1, 4, 3, 3}, 73), W = rand64({3, 4}, 74), B = rand64({3, 4}, 75);
    const Tensor one = Tensor::from_vector(std::vector<double>{0, 1, 0}, {1, 3});
    const std::vector<double> wv = W.to_vector<double>(), bv = B.to_vector<double>();
    const Tensor w1 = Tensor::from_vector(std::vector<double>(wv.begin() + 4, wv.begin() + 8), {4});
    const Tensor b1 = Tensor::from_vector(std::vector<double>(bv.begin() + 4, bv.begin() + 8), {4});
    CHECK(test::rel_err(conditional_instance_norm(x, W, B, one), instance_norm(x, w1, b1)) < 1e-14);
    CHECK_THROWS_WITH(mix_rows(Tensor::from_vector(std::vector<double>{1, 0}, {1, 2}), W),
                      Catch::Contains("weighs 2 rows") && Catch::Contains("has 3"));
}

TEST_CASE("gradcheck reflection_pad2d, and its forward on a known row", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return reflection_pad2d(in[0], 2, 1, 3, 0); }, {rand64({2, 2, 4, 5}, 80)}));
    expect_ok(gradcheck([](const auto& in) { return reflection_pad2d(in[0], 1, 1, 1, 1); }, {rand64({1, 1, 2, 2}, 81)}));
    // PyTorch's ReflectionPad2d: [1 2 3 4] padded by 2 left, 3 right is [3 2 1 2 3 4 3 2 1].
    const Tensor row = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4});
    const std::vector<double> y = reflection_pad2d(row, 0, 0, 2, 3).to_vector<double>();
    CHECK(std::vector<double>(y.begin(), y.begin() + 9) == std::vector<double>{3, 2, 1, 2, 3, 4, 3, 2, 1});
    CHECK_THROWS_WITH(reflection_pad2d(row, 2, 0, 0, 0), Catch::Contains("less than the side they mirror"));
}

TEST_CASE("gradcheck resize_nearest up by 2, up 5 -> 7, down 7 -> 3, and upsample_nearest2d", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return upsample_nearest2d(in[0], 2); }, {rand64({2, 2, 3, 4}, 90)}));
    expect_ok(gradcheck([](const auto& in) { return resize_nearest(in[0], 7, 5); }, {rand64({1, 2, 5, 3}, 91)}));
    expect_ok(gradcheck([](const auto& in) { return resize_nearest(in[0], 3, 2); }, {rand64({1, 2, 7, 5}, 92)}));
    // ONNX Resize, asymmetric + floor: row i of 7 takes source row i·5/7 of 5.
    const Tensor col = Tensor::from_vector(std::vector<double>{10, 11, 12, 13, 14}, {1, 1, 5, 1});
    CHECK(resize_nearest(col, 7, 1).to_vector<double>() == std::vector<double>{10, 10, 11, 12, 12, 13, 14});
}

TEST_CASE("gradcheck sigmoid", "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return sigmoid(in[0]); }, {rand64({3, 7}, 95)}));
    const std::vector<double> y =
        sigmoid(Tensor::from_vector(std::vector<double>{0, 2, -40}, {3})).to_vector<double>();
    CHECK(y[0] == 0.5);
    CHECK(y[1] == Approx(1 / (1 + std::exp(-2.0))).epsilon(1e-15));
    CHECK(y[2] > 0);
}

TEST_CASE("gradcheck channel_affine (per channel, per sample, scale or shift alone), spatial_mean, dequantize_linear",
          "[gradcheck]") {
    expect_ok(gradcheck([](const auto& in) { return channel_affine(in[0], in[1], in[2]); },
                        {rand64({2, 3, 4, 5}, 120), rand64({3}, 121), rand64({3}, 122)}));
    expect_ok(gradcheck([](const auto& in) { return channel_affine(in[0], in[1], in[2]); },
                        {rand64({2, 3, 3, 2}, 123), rand64({2, 3}, 124), rand64({2, 3}, 125)}));
    expect_ok(gradcheck([](const auto& in) { return channel_affine(in[0], in[1], {}); }, {rand64({1, 4, 3, 3}, 126), rand64({4}, 127)}));
    expect_ok(gradcheck([](const auto& in) { return channel_affine(in[0], {}, in[1]); }, {rand64({1, 4, 3, 3}, 128), rand64({4}, 129)}));
    expect_ok(gradcheck([](const auto& in) { return spatial_mean(in[0]); }, {rand64({2, 3, 5, 4}, 130)}));
    expect_ok(gradcheck([](const auto& in) { return dequantize_linear(in[0], 0.37, -3); }, {rand64({1, 2, 3, 4}, 131)}));
    // x·a + b per plane, and the mean of each plane.
    const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
    const Tensor a = Tensor::from_vector(std::vector<double>{2, -1}, {2}), b = Tensor::from_vector(std::vector<double>{0.5, 10}, {2});
    CHECK(channel_affine(x, a, b).to_vector<double>() == std::vector<double>{2.5, 4.5, 6.5, 8.5, 5, 4, 3, 2});
    CHECK(spatial_mean(x).to_vector<double>() == std::vector<double>{2.5, 6.5});
    CHECK(spatial_mean(x).shape() == Shape{1, 2, 1, 1});
    CHECK_THROWS_WITH(channel_affine(x, Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}), {}), Catch::Contains("must have shape [2]"));
}

TEST_CASE("quantize_linear rounds half to even and saturates as ONNX QuantizeLinear, with a straight-through gradient",
          "[gradcheck]") {
    // scale 0.5, zero point 3: x / 0.5 = −1.5, −0.5, 0.5, 1.5, 2.5 round to −2, −0, 0, 2, 2; then + 3; far
    // values clamp to the int8 range.
    const Tensor x = Tensor::from_vector(std::vector<double>{-0.75, -0.25, 0.25, 0.75, 1.25, 500, -500}, {7});
    CHECK(quantize_linear(x, 0.5, 3).to_vector<double>() == std::vector<double>{1, 3, 3, 5, 5, 127, -128});
    CHECK(quantize_linear(x, 0.5, 3, 0, 255).to_vector<double>() == std::vector<double>{1, 3, 3, 5, 5, 255, 0});
    CHECK(dequantize_linear(quantize_linear(x, 0.5, 3), 0.5, 3).to_vector<double>() ==
          std::vector<double>{-1, 0, 0, 1, 1, 62, -65.5});
    // The straight-through estimator: d/dx of x / scale + zero point inside the range (1 / 0.5 = 2), 0 outside.
    Tensor xs = x.detach();
    xs.requires_grad_();
    sum(quantize_linear(xs, 0.5, 3)).backward();
    CHECK(xs.grad().to_vector<double>() == std::vector<double>{2, 2, 2, 2, 2, 0, 0});
    CHECK_THROWS_WITH(quantize_linear(x, 0.0, 0), Catch::Contains("scale must be positive"));
    CHECK_THROWS_WITH(quantize_linear(x, 1.0, 300), Catch::Contains("outside [-128"));
}
