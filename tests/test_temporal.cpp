// stylize_video's temporal term (nst/temporal.h): its value against a plain loop, its float64 gradient
// against central differences, and the objective that adds it to another.
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "layers/vgg19.h"
#include "nst/temporal.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "weights/vgg19_weights.h"

using namespace nst;

namespace {

// A mask with zeros, ones and (as √c) soft weights, over h×w pixels.
std::vector<double> some_mask(int64_t h, int64_t w) {
    std::vector<double> c(size_t(h * w));
    for (size_t i = 0; i < c.size(); ++i) c[i] = i % 3 == 0 ? 0.0 : i % 3 == 1 ? 1.0 : 0.25 + 0.5 * double(i % 7) / 7.0;
    return c;
}

// A float64 target: ω, √c over three channels, Σc.
TemporalTarget target64(const Tensor& warped, const std::vector<double>& c) {
    std::vector<double> root;
    for (int ch = 0; ch < 3; ++ch)
        for (double v : c) root.push_back(std::sqrt(v));
    TemporalTarget t;
    t.warped = warped;
    t.mask = Tensor::from_vector(root, warped.shape());
    for (double v : c) t.reliable += v;
    return t;
}

}  // namespace

TEST_CASE("temporal_loss is the mean over reliable pixels of (x - warped)^2", "[temporal]") {
    const int64_t h = 5, w = 7;
    const Tensor x = test::rand64({1, 3, h, w}, 1, false), om = test::rand64({1, 3, h, w}, 2, false);
    const std::vector<double> c = some_mask(h, w);
    const std::vector<double> xv = x.to_vector<double>(), ov = om.to_vector<double>();
    double num = 0, den = 0;
    for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t p = 0; p < h * w; ++p) num += c[size_t(p)] * std::pow(xv[size_t(ch * h * w + p)] - ov[size_t(ch * h * w + p)], 2);
    for (double v : c) den += 3 * v;
    CHECK(temporal_loss(x, target64(om, c)).item() == Approx(num / den).epsilon(1e-12));
    // No reliable pixel: no term (and no division by zero).
    CHECK(temporal_loss(x, target64(om, std::vector<double>(size_t(h * w), 0.0))).item() == 0.0);
}

TEST_CASE("temporal_loss: float64 gradient in x and in the warped frame against central differences", "[temporal][gradcheck]") {
    const int64_t h = 6, w = 5;
    const std::vector<double> c = some_mask(h, w);
    const auto rep = test::gradcheck(
        [&](const std::vector<Tensor>& in) {
            TemporalTarget t = target64(in[1], c);
            return temporal_loss(in[0], t);
        },
        {test::rand64({1, 3, h, w}, 3), test::rand64({1, 3, h, w}, 4)});
    INFO(rep.first_failure);
    CHECK(rep.failed == 0);
    CHECK(rep.checked == 2 * 3 * h * w);  // a smooth function: no kink is skipped
}

TEST_CASE("make_temporal_target: the warped frame in the network's space, √c in every channel, Σc", "[temporal]") {
    const VGG19 net(weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors")), Device::cpu(), {"relu1_1"});
    const std::vector<float> c{0, 1, 0.25f, 1, 0, 1};
    const Tensor warped = Tensor::uniform({1, 3, 2, 3}, 0.0, 1.0, 5);
    const TemporalTarget t = make_temporal_target(net, warped, c, Device::cpu());
    CHECK(t.reliable == Approx(3.25));
    CHECK(test::rel_err(t.warped, net.preprocess(warped)) == 0.0);
    const std::vector<float> m = t.mask.to_vector<float>();
    REQUIRE(m.size() == 18);
    for (size_t i = 0; i < m.size(); ++i) CHECK(m[i] == Approx(std::sqrt(c[i % 6])));
    // The gradient 2 c (x − ω) / (3 Σc): zero where c = 0, a quarter where c = 1/4.
    Tensor x = Tensor::zeros({1, 3, 2, 3}).requires_grad_();
    temporal_loss(x, t).backward();
    const std::vector<float> g = x.grad().to_vector<float>(), wv = t.warped.to_vector<float>();
    for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(2.0 * c[i % 6] * (0.0 - wv[i]) / (3 * 3.25)).margin(1e-4));
    CHECK_THROWS_WITH(make_temporal_target(net, warped, std::vector<float>(5, 1.0f), Device::cpu()),
                      Catch::Contains("5 values for a 3x2 frame"));
    CHECK_THROWS_WITH(make_temporal_target(net, warped, std::vector<float>(6, 2.0f), Device::cpu()),
                      Catch::Contains("outside 0..1"));
}

namespace {
// A stand-in for the style objective: f(x) = Σ x², g = 2x.
struct SquareObjective : Objective {
    LossTerms last_;
    Tensor evaluate(const Tensor& x, Tensor& g) override {
        g.copy_(scale(x, 2.0));
        last_.tv = sum_squares(x);
        last_.total = last_.tv;
        return last_.total;
    }
    const LossTerms& last() const override { return last_; }
    double weight_scale() const override { return 2.0; }
    const VGG19& net() const override { throw Error("no network in this test"); }
};
}  // namespace

TEST_CASE("TemporalObjective adds w_t s^2 times the term to the value and to the gradient", "[temporal]") {
    SquareObjective base;
    const double wt = 3.0, s2 = 4.0;  // weight_scale 2: the term is weighted like the content term
    TemporalObjective obj(base, wt);
    const Tensor x = Tensor::uniform({1, 3, 4, 5}, -1.0, 1.0, 6);
    const Tensor om = Tensor::uniform({1, 3, 4, 5}, -1.0, 1.0, 7);
    Tensor g = Tensor::zeros({1, 3, 4, 5});
    // Without a target it is the base objective.
    CHECK(obj.evaluate(x, g).item() == Approx(sum_squares(x).item()));
    CHECK_FALSE(obj.last().temporal.defined());

    std::vector<float> ones(20, 1.0f), three(60, 1.0f);
    ones[3] = 0, three[3] = three[23] = three[43] = 0;  // pixel 3 unreliable in every channel
    TemporalTarget t;
    t.warped = om;
    t.mask = Tensor::from_vector(three, {1, 3, 4, 5});
    t.reliable = 19;
    obj.set_target(t);
    const double f = obj.evaluate(x, g).item();
    const std::vector<float> xv = x.to_vector<float>(), ov = om.to_vector<float>(), gv = g.to_vector<float>();
    double term = 0;
    for (size_t i = 0; i < xv.size(); ++i) term += three[i] * std::pow(double(xv[i]) - ov[i], 2);
    term *= wt * s2 / (3 * 19);
    CHECK(obj.last().temporal.item() == Approx(term).epsilon(1e-5));
    CHECK(f == Approx(sum_squares(x).item() + term).epsilon(1e-5));
    for (size_t i = 0; i < gv.size(); ++i)
        CHECK(gv[i] == Approx(2.0 * xv[i] + wt * s2 * 2.0 * three[i] * (xv[i] - ov[i]) / (3 * 19)).margin(1e-5));
}
