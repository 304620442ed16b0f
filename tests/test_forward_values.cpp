// Forward values of every op on small cases computed by hand (the numbers in the comments).
#include "core/blas.h"
#include "core/ops.h"
#include "tests/catch.h"
#include "tests/test_util.h"

using namespace nst;

namespace {
std::vector<float> v(const Tensor& t) { return t.to_vector<float>(); }
Tensor T(std::vector<float> data, Shape s) { return Tensor::from_vector(data, s); }
}  // namespace

TEST_CASE("conv2d on a 3x3 image, 2x2 kernel, with and without padding", "[forward]") {
    const Tensor x = T({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    const Tensor w = T({1, 0, 0, -1}, {1, 1, 2, 2});  // x[i][j] - x[i+1][j+1]
    const Tensor b = T({10}, {1});
    // Every valid window gives -4, plus the bias.
    CHECK(v(conv2d(x, w, b)) == std::vector<float>{6, 6, 6, 6});
    // Padding 1: output 4x4; corner (0,0) sees only x[0][0] under w[1][1] = -1.
    const auto y = v(conv2d(x, w, Tensor(), 1, 1));
    REQUIRE(y.size() == 16);
    CHECK(y[0] == -1);   // -x[0][0]
    CHECK(y[5] == -4);   // interior: x[0][0] - x[1][1]
    CHECK(y[15] == 9);   // x[2][2] under w[0][0]
    // Stride 2 on the padded input: windows at (0,0), (0,2), (2,0), (2,2) -> 2x2.
    CHECK(v(conv2d(x, w, Tensor(), 2, 1)) == std::vector<float>{-1, -3, -7, -4});
}

TEST_CASE("conv2d sums over input channels and batches stay separate", "[forward]") {
    const Tensor x = T({1, 2, 3, 4, 10, 20, 30, 40}, {2, 1, 2, 2});
    const Tensor w = T({1, 1, 1, 1, 2, 2, 2, 2}, {2, 1, 2, 2});
    CHECK(v(conv2d(x, w)) == std::vector<float>{10, 20, 100, 200});
    const Tensor x2 = T({1, 2, 3, 4, 1, 1, 1, 1}, {1, 2, 2, 2});
    const Tensor w2 = T({1, 1, 1, 1, -1, -1, -1, -1}, {1, 2, 2, 2});
    CHECK(v(conv2d(x2, w2)) == std::vector<float>{10 - 4});
}

TEST_CASE("relu", "[forward]") {
    CHECK(v(relu(T({-2, -0.0f, 0.5f, 3}, {4}))) == std::vector<float>{0, 0, 0.5f, 3});
}

TEST_CASE("max_pool2d and avg_pool2d", "[forward]") {
    const Tensor x = T({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
    CHECK(v(max_pool2d(x)) == std::vector<float>{6, 8, 14, 16});
    CHECK(v(avg_pool2d(x)) == std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f});
    // 3x3/2 pad 1 on 4x4 -> 2x2; the first window covers x[0..1][0..1] plus padding.
    CHECK(v(max_pool2d(x, 3, 2, 1)) == std::vector<float>{6, 8, 14, 16});
    // Padding counts as zeros in the average: (1+2+5+6)/9.
    CHECK(v(avg_pool2d(x, 3, 2, 1))[0] == Approx(14.0 / 9.0));
    // Negative inputs: padding never wins a max.
    CHECK(v(max_pool2d(scale(x, -1.0), 3, 2, 1))[0] == -1);
    // Odd sizes floor: 5x5 with 2x2/2 gives 2x2.
    CHECK(max_pool2d(Tensor::zeros({1, 1, 5, 5})).shape() == Shape{1, 1, 2, 2});
}

TEST_CASE("gram of two channels", "[forward]") {
    // F = [[1,2],[3,4]] (C=2, HW=2): F Fᵀ = [[5,11],[11,25]], divided by C*HW = 4.
    const Tensor x = T({1, 2, 3, 4}, {1, 2, 1, 2});
    CHECK(v(gram(x)) == std::vector<float>{1.25f, 2.75f, 2.75f, 6.25f});
    CHECK(gram(Tensor::zeros({2, 3, 4, 5})).shape() == Shape{2, 3, 3});
}

TEST_CASE("losses: sum_squares, mse, total_variation", "[forward]") {
    CHECK(sum_squares(T({1, -2, 3}, {3})).item() == 14);
    CHECK(mse(T({1, 2, 3, 4}, {4}), T({1, 0, 3, 0}, {4})).item() == Approx(5.0));  // (0+4+0+16)/4
    CHECK(mse(T({1, 2}, {2}), T({1, 2}, {2})).item() == 0);
    // [[1,2],[4,8]]: horizontal (2-1)^2 + (8-4)^2 = 17, vertical (4-1)^2 + (8-2)^2 = 45
    CHECK(total_variation(T({1, 2, 4, 8}, {1, 1, 2, 2})).item() == 62);
    CHECK(total_variation(Tensor::full({1, 3, 4, 5}, 7.0)).item() == 0);
}

TEST_CASE("elementwise add sub mul scale sum", "[forward]") {
    const Tensor a = T({1, 2, 3}, {3}), b = T({4, 5, 6}, {3});
    CHECK(v(add(a, b)) == std::vector<float>{5, 7, 9});
    CHECK(v(sub(a, b)) == std::vector<float>{-3, -3, -3});
    CHECK(v(mul(a, b)) == std::vector<float>{4, 10, 18});
    CHECK(v(scale(a, 0.5)) == std::vector<float>{0.5f, 1, 1.5f});
    CHECK(sum(b).item() == 15);
    CHECK(sum(b).shape() == Shape{});
}

TEST_CASE("blas1 dot nrm2 axpy scal", "[forward]") {
    Tensor x = T({3, 4}, {2}), y = T({1, 2}, {2});
    CHECK(blas::dot(x, y).item() == 11);
    CHECK(blas::nrm2(x).item() == 5);
    blas::axpy(2.0, x, y);
    CHECK(v(y) == std::vector<float>{7, 10});
    blas::scal(-1.0, y);
    CHECK(v(y) == std::vector<float>{-7, -10});
    Tensor xd = Tensor::from_vector(std::vector<double>{1, 2, 2}, {3});
    CHECK(blas::nrm2(xd).item() == 3);
}
