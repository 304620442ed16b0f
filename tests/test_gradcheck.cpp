// Float64 central-difference gradient checks of every op's backward, on the CPU reference kernels.
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
