// The autograd engine: accumulation, topological order, no-grad scopes, frozen leaves, freed graphs.
#include "core/allocator.h"
#include "core/autograd.h"
#include "core/blas.h"
#include "core/ops.h"
#include "tests/catch.h"
#include "tests/test_util.h"
#include <cstdint>

using namespace nst;

namespace {
Tensor T(std::vector<float> d, Shape s) { return Tensor::from_vector(d, s); }
std::vector<float> v(const Tensor& t) { return t.to_vector<float>(); }
}  // namespace

TEST_CASE("a tensor used twice gets the sum of both gradients", "[autograd]") {
    Tensor x = T({1, 2, 3}, {3}).requires_grad_();
    Tensor y = sum(mul(x, x));  // d/dx Σx² = 2x
    y.backward();
    CHECK(v(x.grad()) == std::vector<float>{2, 4, 6});
    Tensor z = sum(add(x, x));  // same leaf on both sides of one op
    x.zero_grad();
    z.backward();
    CHECK(v(x.grad()) == std::vector<float>{2, 2, 2});
}

TEST_CASE("diamond graph: a node runs once, after all its consumers", "[autograd]") {
    // x -> a = 3x -> b = a*a, c = 2a -> L = Σ(b + c): dL/dx = 3 (2a + 2) = 18x + 6
    Tensor x = T({1, -1}, {2}).requires_grad_();
    Tensor a = scale(x, 3.0);
    Tensor L = sum(add(mul(a, a), scale(a, 2.0)));
    L.backward();
    CHECK(v(x.grad()) == std::vector<float>{24, -12});
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[autograd]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    sum(scale(x, 2.0)).backward();
    sum(scale(x, 2.0)).backward();
    CHECK(v(x.grad()) == std::vector<float>{4, 4});
    x.zero_grad();
    CHECK(!x.grad().defined());
}

TEST_CASE("frozen leaves get no gradient and their weight-gradient kernels never run", "[autograd]") {
    Tensor x = Tensor::randn({1, 2, 5, 5}, 1).requires_grad_();
    Tensor w = Tensor::randn({3, 2, 3, 3}, 2);  // frozen: requires_grad false
    Tensor b = Tensor::randn({3}, 3);
    Tensor L = sum_squares(conv2d(x, w, b, 1, 1));
    // The conv node has an inactive edge for w and b, so its backward skips their kernels.
    const Node& conv_node = *L.impl()->autograd->grad_fn->next[0].node;
    CHECK(conv_node.name == "conv2d");
    CHECK(conv_node.needs_grad(0));
    CHECK_FALSE(conv_node.needs_grad(1));
    CHECK_FALSE(conv_node.needs_grad(2));
    L.backward();
    CHECK(x.grad().defined());
    CHECK_FALSE(w.grad().defined());
    CHECK_FALSE(b.grad().defined());
}

TEST_CASE("no-grad scope records nothing", "[autograd]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    Tensor y;
    {
        NoGradGuard ng;
        CHECK_FALSE(grad_enabled());
        y = scale(x, 2.0);
    }
    CHECK(grad_enabled());
    CHECK_FALSE(y.requires_grad());
    CHECK_THROWS_AS(sum(y).backward(), Error);
}

TEST_CASE("ops on inputs that need no grad record nothing", "[autograd]") {
    Tensor y = relu(T({1, -1}, {2}));
    CHECK(y.is_leaf());
    CHECK_FALSE(y.requires_grad());
}

TEST_CASE("backward twice through a freed graph is an error unless retain_graph kept it", "[autograd]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    Tensor L = sum(mul(x, x));
    L.backward(Tensor::scalar(1.0), /*retain_graph=*/true);
    L.backward();
    CHECK(v(x.grad()) == std::vector<float>{4, 8});
    CHECK_THROWS_WITH(L.backward(), Catch::Contains("already freed"));
}

TEST_CASE("backward needs a scalar or a matching seed", "[autograd]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    Tensor y = scale(x, 3.0);
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("one-element"));
    CHECK_THROWS_WITH(y.backward(Tensor::zeros({3})), Catch::Contains("does not match"));
    y.backward(T({1, 10}, {2}));
    CHECK(v(x.grad()) == std::vector<float>{3, 30});
}

TEST_CASE("requires_grad_ only on leaves and blas updates refused on grad tensors in grad mode", "[autograd][errors]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    Tensor y = scale(x, 2.0);
    CHECK_THROWS_WITH(y.requires_grad_(), Catch::Contains("leaf"));
    CHECK_THROWS_WITH(blas::axpy(1.0, y, x), Catch::Contains("NoGradGuard"));
    {
        NoGradGuard ng;
        blas::axpy(-0.5, Tensor::from_vector(std::vector<float>{2, 2}, {2}), x);  // a gradient step
    }
    CHECK(v(x) == std::vector<float>{0, 1});
}

TEST_CASE("a backward that returns a wrong shape is caught", "[autograd][errors]") {
    Tensor x = T({1, 2}, {2}).requires_grad_();
    Tensor y = x.detach().clone();
    autograd::record(y, "broken", {&x}, [](const Tensor&, const Node&) { return std::vector<Tensor>{Tensor::zeros({3})}; });
    CHECK_THROWS_WITH(sum(y).backward(), Catch::Contains("broken"));
}

TEST_CASE("intermediate gradients are freed once used: a long chain holds only leaf grads", "[autograd]") {
    // 50 scales of a 4 MB tensor: were each node's incoming gradient kept until the end, the backward
    // would hold 50 of them (200 MB) at its peak; freed once used, it holds a few at a time.
    const int64_t n = 1 << 20;
    const size_t bytes = size_t(n) * sizeof(float);
    Tensor x = Tensor::randn({n}, 5).requires_grad_();
    Tensor h = x;
    for (int i = 0; i < 50; ++i) h = scale(h, 1.01);
    Tensor loss = sum(h);
    const size_t before = cpu_memory_stats().bytes_in_use;
    cpu_reset_peak();
    loss.backward();
    const size_t peak = cpu_memory_stats().peak_bytes_in_use;
    INFO("bytes in use before the backward " << before << ", peak during it " << peak);
    CHECK(peak < before + 5 * bytes);
    const double expect = std::pow(1.01, 50);
    const auto g = v(x.grad());
    for (int64_t i = 0; i < n; i += 4099) CHECK(g[size_t(i)] == Approx(expect).epsilon(1e-5));
}

TEST_CASE("the README example runs (on the CPU here)", "[autograd]") {
    const Device dev = cuda_available() ? Device::cuda() : Device::cpu();
    Tensor x = Tensor::randn({1, 3, 64, 64}, 1, DType::F32, dev).requires_grad_();
    Tensor w = Tensor::randn({16, 3, 3, 3}, 2).to(dev);
    Tensor loss = sum_squares(gram(relu(conv2d(x, w, Tensor(), 1, 1))));
    loss.backward();
    REQUIRE(x.grad().defined());
    CHECK_FALSE(w.grad().defined());
    const double before = loss.item();
    {
        NoGradGuard no_grad;
        blas::axpy(-1e-3 / blas::nrm2(x.grad()).item(), x.grad(), x);
    }
    CHECK(sum_squares(gram(relu(conv2d(x, w, Tensor(), 1, 1)))).item() < before);  // a descent step descends
}
