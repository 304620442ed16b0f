// Every non-reference CPU variant (e.g. the OpenBLAS im2col+GEMM conv) against the reference kernels,
// forward and backward, on random odd shapes. Criterion as for CUDA: ‖out − ref‖/‖ref‖ < 2e-5.
#include "core/dispatch.h"
#include "core/ops.h"
#include "tests/catch.h"
#include "tests/test_util.h"

using namespace nst;

TEST_CASE("conv2d: every CPU variant matches the reference, forward and all three gradients", "[cpu]") {
    struct Case { int N, C, H, W, K, R, S, stride, pad; };
    const Case cases[] = {{1, 3, 7, 5, 5, 3, 3, 1, 1}, {2, 17, 13, 9, 33, 3, 3, 2, 1}, {1, 1, 1, 1, 3, 1, 1, 1, 0},
                          {2, 5, 11, 8, 7, 5, 5, 1, 2}, {1, 6, 9, 10, 4, 2, 3, 2, 1}, {1, 67, 45, 38, 65, 3, 3, 1, 1}};
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
    if (variants == 0) std::cout << "NST_SKIPPED: this build has only the reference CPU conv (OpenBLAS not found)\n";
}

TEST_CASE("gram: every CPU variant matches the reference, forward and backward", "[cpu]") {
    const Shape shapes[] = {{1, 3, 7, 5}, {2, 17, 13, 9}, {2, 1, 1, 1}, {1, 65, 37, 41}};
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
    if (variants == 0) std::cout << "NST_SKIPPED: this build has only the reference CPU Gram (OpenBLAS not found)\n";
}
