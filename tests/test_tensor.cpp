// Tensor construction, transfers, conversions, and the errors for shape, dtype and device mistakes.
#include <string>

#include "core/ops.h"
#include "tests/catch.h"
#include "tests/test_util.h"

using namespace nst;

namespace {
// Runs f, requires an nst::Error whose message contains every fragment.
template <class F> void expect_error(F&& f, std::initializer_list<const char*> fragments) {
    try {
        f();
    } catch (const Error& e) {
        const std::string msg = e.what();
        for (const char* frag : fragments) {
            INFO("message: " << msg);
            CHECK(msg.find(frag) != std::string::npos);
        }
        return;
    }
    FAIL("expected nst::Error");
}
}  // namespace

TEST_CASE("tensor basics: shape, numel, fill, copies share or own data", "[tensor]") {
    Tensor t = Tensor::zeros({2, 3, 4});
    CHECK(t.numel() == 24);
    CHECK(t.ndim() == 3);
    CHECK(t.dim(-1) == 4);
    CHECK(t.dtype() == DType::F32);
    CHECK(t.device() == Device::cpu());
    CHECK(t.str() == "Tensor(f32, cpu, [2,3,4])");
    t.fill_(2.5);
    CHECK(t.to_vector<float>() == std::vector<float>(24, 2.5f));
    Tensor alias = t;
    Tensor copy = t.clone();
    alias.data<float>()[0] = 7;
    CHECK(t.data<float>()[0] == 7);
    CHECK(copy.data<float>()[0] == 2.5f);
    CHECK(Tensor::scalar(3.0).item() == 3.0);
    CHECK(Tensor::scalar(3.0).shape().empty());
}

TEST_CASE("tensor dtype conversion and random tensors are reproducible", "[tensor]") {
    Tensor a = Tensor::randn({5, 7}, 42);
    Tensor b = Tensor::randn({5, 7}, 42);
    CHECK(a.to_vector<float>() == b.to_vector<float>());
    CHECK(a.to_vector<float>() != Tensor::randn({5, 7}, 43).to_vector<float>());
    Tensor d = a.to(DType::F64);
    CHECK(d.dtype() == DType::F64);
    CHECK(d.to_vector<double>()[3] == double(a.to_vector<float>()[3]));
    const auto u = Tensor::uniform({1000}, -2.0, 3.0, 1).to_vector<float>();
    CHECK(*std::min_element(u.begin(), u.end()) >= -2.0f);
    CHECK(*std::max_element(u.begin(), u.end()) < 3.0f);
}

TEST_CASE("reshape shares storage and checks numel", "[tensor]") {
    Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor r = a.reshape({3, 2});
    CHECK(r.shape() == Shape{3, 2});
    CHECK(r.same_storage(a));
    expect_error([&] { a.reshape({4, 2}); }, {"reshape", "[4,2]"});
}

TEST_CASE("errors: shape, dtype, device mismatches name the op and both tensors", "[tensor][errors]") {
    const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
    expect_error([&] { add(a, b); }, {"add", "shape mismatch", "[2,3]", "[3,2]"});
    expect_error([&] { add(a, Tensor::zeros({2, 3}, DType::F64)); }, {"add", "dtype", "f64"});
    expect_error([&] { a.data<double>(); }, {"f64", "f32"});
    expect_error([&] { mse(a, Tensor()); }, {"mse", "undefined"});
    expect_error([&] { Tensor::zeros({-1, 2}); }, {"negative"});
    expect_error([&] { Tensor::zeros({1}, DType::F64, Device::cuda()); }, {"float64", "CPU only"});
    expect_error([&] { Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}); }, {"3 values", "[2,2]"});
    expect_error([&] { Tensor::zeros({2, 2}).item(); }, {"item", "one-element"});
    expect_error([&] { Tensor::zeros({2}).copy_(Tensor::zeros({3})); }, {"copy_"});
}

TEST_CASE("errors: op-specific argument checks", "[tensor][errors]") {
    const Tensor x = Tensor::zeros({1, 3, 8, 8});
    expect_error([&] { conv2d(x, Tensor::zeros({4, 2, 3, 3})); }, {"conv2d", "3 channels", "expects 2"});
    expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5})); }, {"conv2d", "bias", "[4]"});
    expect_error([&] { conv2d(Tensor::zeros({3, 8, 8}), Tensor::zeros({4, 3, 3, 3})); }, {"conv2d", "4 dimensions"});
    expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 0); }, {"conv2d", "stride"});
    expect_error([&] { conv2d(x, Tensor::zeros({4, 3, 11, 11})); }, {"conv2d", "larger than the padded input"});
    expect_error([&] { max_pool2d(x, 0); }, {"max_pool2d", "kernel"});
    expect_error([&] { avg_pool2d(Tensor::zeros({1, 1, 1, 1}), 2); }, {"avg_pool2d", "larger"});
    expect_error([&] { gram(Tensor::zeros({2, 3})); }, {"gram", "4 dimensions"});
    expect_error([&] { total_variation(Tensor::zeros({2, 3})); }, {"total_variation"});
    expect_error([&] { relu(Tensor::zeros({2}, DType::I32)); }, {"relu", "float"});
    expect_error([&] { conv2d(Tensor::zeros({0, 3, 4, 4}), Tensor::zeros({2, 3, 3, 3})); }, {"conv2d", "empty"});
    expect_error([&] { max_pool2d(Tensor::zeros({1, 0, 4, 4})); }, {"max_pool2d", "empty"});
    expect_error([&] { gram(Tensor::zeros({1, 2, 0, 4})); }, {"gram", "empty"});
    CHECK(relu(Tensor::zeros({0})).numel() == 0);  // empty is fine where it means something
}

TEST_CASE("device transfers: a clear error without a device and a round trip with one", "[tensor]") {
    const Tensor a = Tensor::randn({3, 5}, 7);
    if (!cuda_available()) {
        expect_error([&] { a.to(Device::cuda()); }, {"cuda"});
        return;
    }
    const Tensor back = a.to(Device::cuda()).cpu();
    CHECK(back.to_vector<float>() == a.to_vector<float>());
}
