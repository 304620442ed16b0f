// Every CUDA variant of every op (the project's kernels and the cuDNN/cuBLAS wrappers) against the CPU
// reference, forward and backward, on random inputs of odd shapes: batch 1 and 2, channel counts that
// are not multiples of 32, H != W, tiny and large. Criterion: ‖out − ref‖ / ‖ref‖ < 2e-5 in fp32 (TF32
// off). Without a CUDA device every test prints NST_SKIPPED and ctest reports it as skipped.
#include <cmath>
#include <cstdint>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/allocator.h"
#include "core/blas.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "layers/onnx_net.h"
#include "layers/transformer_net.h"
#include "media/image.h"
#include "optim/optim.h"
#include "nst/objective.h"
#include "stylize/stylize.h"
#include "train/trainer.h"
#include "nst/temporal.h"
#include "nst/tiled_objective.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"
#include "core/cuda_graph.h"
#include "layers/modules.h"
#include "tests/test_util.h"

using namespace nst;

namespace {

constexpr double kTol = 2e-5;
// Variants named *_tf32 round their inputs to TF32 (10-bit mantissa) on tensor cores: ~1e-3 relative.
constexpr double kTolTF32 = 5e-3;
double tolerance(const std::string& variant) {
    return variant.find("tf32") != std::string::npos ? kTolTF32 : kTol;
}
using Build = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs `build` on the CPU reference and on CUDA with `op` pinned to `variant`, seeds both backwards
// with the same random tensor, and compares the output and every input gradient.
void compare(const std::string& op, const std::string& variant, const Build& build, const std::vector<Shape>& shapes,
             uint64_t seed, const std::vector<bool>& grad = {}) {
    INFO("op " << op << ", variant " << variant);
    const double tol = tolerance(variant);
    std::vector<Tensor> in_cpu, in_gpu;
    for (size_t i = 0; i < shapes.size(); ++i) {
        Tensor h = Tensor::uniform(shapes[i], -1.0, 1.0, seed + i);
        Tensor d = h.to(Device::cuda());
        if (grad.empty() || grad[i]) {
            h.requires_grad_();
            d.requires_grad_();
        }
        in_cpu.push_back(h);
        in_gpu.push_back(d);
    }
    const Tensor ref = build(in_cpu);
    Tensor out;
    {
        ScopedVariant pin(op, variant);
        out = build(in_gpu);
        REQUIRE(out.device() == Device::cuda());
        const Tensor R = Tensor::uniform(ref.shape(), -1.0, 1.0, seed + 100);
        ref.backward(R);
        out.backward(R.to(Device::cuda()));
    }
    REQUIRE(out.shape() == ref.shape());
    const double e_out = test::rel_err(out, ref);
    INFO("shape " << shape_str(ref.shape()) << ": forward rel err " << e_out);
    CHECK(e_out < tol);
    for (size_t i = 0; i < in_cpu.size(); ++i) {
        if (!in_cpu[i].requires_grad()) continue;
        REQUIRE(in_gpu[i].grad().defined());
        const double e = test::rel_err(in_gpu[i].grad(), in_cpu[i].grad());
        INFO("gradient of input " << i << " " << shape_str(shapes[i]) << ": rel err " << e);
        CHECK(e < tol);
    }
}

template <class Table> std::vector<std::string> names(Table table, bool library) {
    std::vector<std::string> r;
    for (const auto& v : table)
        if (v.library == library) r.push_back(v.name);
    return r;
}

struct ConvCase { int N, C, H, W, K, R, S, stride, pad; bool bias; };
const ConvCase kConvCases[] = {
    {1, 3, 7, 5, 5, 3, 3, 1, 1, true},       // tiny, H != W
    {2, 17, 13, 9, 33, 3, 3, 2, 1, true},    // batch 2, stride 2
    {1, 1, 1, 1, 3, 1, 1, 1, 0, true},       // 1x1 everything
    {2, 5, 11, 8, 7, 5, 5, 1, 2, false},     // 5x5 pad 2, no bias
    {1, 6, 9, 10, 4, 2, 3, 2, 1, true},      // rectangular kernel
    {2, 13, 19, 37, 16, 3, 3, 1, 1, false},  // K 16 and backward-data's K' 13 (thin kernel, 16 filters), ragged tiles
    {1, 9, 10, 33, 7, 3, 3, 1, 1, true},     // K 7 (8 filters) and K' 9; 9 input channels: a second stage of 8
#ifndef __SANITIZE_THREAD__
    {1, 67, 45, 38, 65, 3, 3, 1, 1, true},   // large, VGG-like
#else
    // Under ThreadSanitizer (scripts/test.sh pass 4, 10-50x slower; the large case alone ran past ctest's
    // 1500 s in CI) a medium case 16x cheaper that still spans several output tiles, channel chunks and
    // K-splits of every rung, which is where a missing barrier would race.
    {1, 35, 19, 21, 33, 3, 3, 1, 1, true},   // medium, several tiles
#endif
};

// A Conv2d module with frozen weights (prepared once, as VGG-19's are) pinned to `variant` on CUDA,
// against the reference conv: the output and the input gradient. Random data from seeds seed..seed+3.
void compare_prepared(const std::string& variant, const ConvCase& c, uint64_t seed) {
    ScopedVariant pin("conv2d", variant);
    const Tensor w = Tensor::uniform({c.K, c.C, c.R, c.S}, -1, 1, seed), b = Tensor::uniform({c.K}, -1, 1, seed + 1);
    Tensor x = Tensor::uniform({c.N, c.C, c.H, c.W}, -1, 1, seed + 2).requires_grad_();
    Tensor xd = x.detach().to(Device::cuda()).requires_grad_();
    const Conv2d layer(w.to(Device::cuda()), b.to(Device::cuda()), c.stride, c.pad);
    Tensor ref;
    {
        ScopedVariant r("conv2d", "reference");
        ref = conv2d(x, w, b, c.stride, c.pad);
    }
    const Tensor out = layer.forward(xd);
    const Tensor R = Tensor::uniform(ref.shape(), -1, 1, seed + 3);
    ref.backward(R);
    out.backward(R.to(Device::cuda()));
    CHECK(test::rel_err(out, ref) < tolerance(variant));
    CHECK(test::rel_err(xd.grad(), x.grad()) < tolerance(variant));
}

void conv_cases(const std::string& variant) {
    uint64_t seed = 1000;
    for (const ConvCase& c : kConvCases) {
        INFO("conv N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " " << c.R << "x" << c.S
                      << " stride " << c.stride << " pad " << c.pad);
        std::vector<Shape> shapes{{c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.S}};
        if (c.bias) shapes.push_back({c.K});
        compare("conv2d", variant,
                [c](const auto& in) { return conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.pad); }, shapes,
                seed += 10);
    }
}

struct PoolCase { int N, C, H, W, k, stride, pad; };
const PoolCase kPoolCases[] = {
    {1, 3, 7, 5, 2, 2, 0}, {2, 17, 13, 9, 3, 2, 1}, {1, 5, 1, 1, 1, 1, 0}, {2, 33, 64, 47, 2, 2, 0}, {1, 4, 9, 12, 3, 1, 1},
};

void pool_cases(const std::string& op, const std::string& variant) {
    uint64_t seed = 2000;
    for (const PoolCase& c : kPoolCases) {
        INFO("pool N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " k" << c.k << " s" << c.stride << " p" << c.pad);
        compare(op, variant,
                [c, op](const auto& in) {
                    return op == "max_pool" ? max_pool2d(in[0], c.k, c.stride, c.pad) : avg_pool2d(in[0], c.k, c.stride, c.pad);
                },
                {{c.N, c.C, c.H, c.W}}, seed += 10);
    }
}

const Shape kGramShapes[] = {{1, 3, 7, 5}, {2, 17, 13, 9}, {2, 1, 1, 1}, {1, 65, 37, 41}, {1, 128, 32, 33}};
const Shape kImageShapes[] = {{1, 3, 7, 5}, {2, 3, 1, 9}, {1, 1, 1, 1}, {2, 3, 257, 171}};
const Shape kVectorShapes[] = {{1}, {4097}, {3, 333}, {(1 << 20) + 3}};

}  // namespace

TEST_CASE("conv2d: own CUDA variants match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(conv2d_variants(DeviceKind::CUDA), false)) conv_cases(v);
}
TEST_CASE("conv2d: cuDNN variant matches the CPU reference", "[cuda][cudnn]") {
    NST_REQUIRE_CUDNN();
    for (const auto& v : names(conv2d_variants(DeviceKind::CUDA), true)) conv_cases(v);
}

TEST_CASE("conv2d: own CUDA variants with prepared frozen weights match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : conv2d_variants(DeviceKind::CUDA)) {
        if (v.library || !v.prepare) continue;
        for (const ConvCase& c : kConvCases) {
            INFO("variant " << v.name << ": conv C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " " << c.R << "x"
                            << c.S << " stride " << c.stride << " pad " << c.pad);
            compare_prepared(v.name, c, 41);
        }
    }
}

TEST_CASE("relu: every CUDA variant matches the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(relu_variants(DeviceKind::CUDA), false))
        for (const Shape& s : kVectorShapes) compare("relu", v, [](const auto& in) { return relu(in[0]); }, {s}, 3000);
}
TEST_CASE("relu: cuDNN variant matches the CPU reference", "[cuda][cudnn]") {
    NST_REQUIRE_CUDNN();
    for (const auto& v : names(relu_variants(DeviceKind::CUDA), true))
        for (const Shape& s : kVectorShapes) compare("relu", v, [](const auto& in) { return relu(in[0]); }, {s}, 3000);
}

TEST_CASE("max_pool2d: own CUDA variants match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(max_pool_variants(DeviceKind::CUDA), false)) pool_cases("max_pool", v);
}
TEST_CASE("max_pool2d: cuDNN variant matches the CPU reference", "[cuda][cudnn]") {
    NST_REQUIRE_CUDNN();
    for (const auto& v : names(max_pool_variants(DeviceKind::CUDA), true)) pool_cases("max_pool", v);
}
TEST_CASE("avg_pool2d: own CUDA variants match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(avg_pool_variants(DeviceKind::CUDA), false)) pool_cases("avg_pool", v);
}
TEST_CASE("avg_pool2d: cuDNN variant matches the CPU reference", "[cuda][cudnn]") {
    NST_REQUIRE_CUDNN();
    for (const auto& v : names(avg_pool_variants(DeviceKind::CUDA), true)) pool_cases("avg_pool", v);
}

TEST_CASE("gram: own CUDA variants match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(gram_variants(DeviceKind::CUDA), false))
        for (const Shape& s : kGramShapes) compare("gram", v, [](const auto& in) { return gram(in[0]); }, {s}, 4000);
}
TEST_CASE("gram: cuBLAS variant matches the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(gram_variants(DeviceKind::CUDA), true))
        for (const Shape& s : kGramShapes) compare("gram", v, [](const auto& in) { return gram(in[0]); }, {s}, 4000);
}

TEST_CASE("elementwise, reductions and losses: CUDA matches the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : names(vector_variants(DeviceKind::CUDA), false)) {
        for (const Shape& s : kVectorShapes) {
            compare("vector", v, [](const auto& in) { return add(in[0], in[1]); }, {s, s}, 5000);
            compare("vector", v, [](const auto& in) { return sub(in[0], in[1]); }, {s, s}, 5010);
            compare("vector", v, [](const auto& in) { return mul(in[0], in[1]); }, {s, s}, 5020);
            compare("vector", v, [](const auto& in) { return scale(in[0], -1.75); }, {s}, 5030);
            compare("vector", v, [](const auto& in) { return sum(in[0]); }, {s}, 5040);
            compare("vector", v, [](const auto& in) { return sum_squares(in[0]); }, {s}, 5050);
            compare("vector", v, [](const auto& in) { return mse(in[0], in[1]); }, {s, s}, 5060);
        }
        for (const Shape& s : kImageShapes)
            compare("vector", v, [](const auto& in) { return total_variation(in[0]); }, {s}, 5070);
        // crop2d (and paste2d, its backward): odd windows, and a tile's window of VGG-19 features
        // (conv1_1's 64 channels, conv4_1's 512, at a 256 px image's sizes).
        struct Crop { Shape s; int64_t y0, x0, h, w; };
        const Crop crops[] = {{{1, 3, 7, 5}, 2, 1, 4, 3}, {{2, 3, 1, 9}, 0, 8, 1, 1}, {{1, 1, 1, 1}, 0, 0, 1, 1},
                              {{2, 3, 257, 171}, 13, 7, 200, 111}, {{1, 64, 170, 256}, 5, 9, 96, 160},
                              {{1, 512, 21, 32}, 1, 2, 19, 17}};
        for (const Crop& c : crops)
            compare("vector", v, [&](const auto& in) { return crop2d(in[0], c.y0, c.x0, c.h, c.w); }, {c.s}, 5080);
    }
}

TEST_CASE("feed-forward ops (instance norm, its row mix, reflection pad, nearest resize, sigmoid): CUDA matches "
          "the CPU reference on odd shapes and TransformerNet's", "[cuda]") {
    NST_REQUIRE_CUDA();
    // TransformerNet's shapes at a 256 px input: 32 channels at 256, 64 at 128, 128 at 64 (the residual
    // blocks), and the upsampling back; odd ones besides.
    const Shape norm_shapes[] = {{1, 3, 7, 5}, {2, 5, 1, 1}, {2, 3, 33, 17}, {1, 32, 256, 256}, {1, 128, 64, 64}};
    for (const auto& v : names(feedforward_variants(DeviceKind::CUDA), false)) {
        for (const Shape& s : norm_shapes) {
            compare("feedforward", v, [](const auto& in) { return instance_norm(in[0]); }, {s}, 6000);
            compare("feedforward", v, [](const auto& in) { return instance_norm(in[0], in[1], in[2]); },
                    {s, {s[1]}, {s[1]}}, 6010);
            compare("feedforward", v, [](const auto& in) { return instance_norm(in[0], in[1], in[2]); },
                    {s, {s[0], s[1]}, {s[0], s[1]}}, 6020);
        }
        // 26 styles' rows mixed for a batch of 2 (the multi-style network's norm), alpha held constant.
        compare("feedforward", v, [](const auto& in) { return mix_rows(in[0], in[1]); }, {{2, 26}, {26, 128}}, 6030,
                {false, true});
        struct Pad { Shape s; int t, b, l, r; };
        const Pad pads[] = {{{1, 3, 7, 5}, 2, 1, 3, 0}, {{2, 2, 2, 2}, 1, 1, 1, 1}, {{1, 3, 256, 256}, 4, 4, 4, 4},
                            {{1, 128, 64, 64}, 1, 1, 1, 1}};
        for (const Pad& p : pads)
            compare("feedforward", v, [&](const auto& in) { return reflection_pad2d(in[0], p.t, p.b, p.l, p.r); },
                    {p.s}, 6040);
        struct Resize { Shape s; int64_t h, w; };
        const Resize resizes[] = {{{1, 2, 5, 3}, 7, 5}, {{1, 2, 7, 5}, 3, 2}, {{2, 3, 4, 4}, 8, 8},
                                  {{1, 128, 64, 64}, 128, 128}, {{1, 64, 128, 128}, 256, 256}};
        for (const Resize& r : resizes)
            compare("feedforward", v, [&](const auto& in) { return resize_nearest(in[0], r.h, r.w); }, {r.s}, 6050);
        for (const Shape& s : kVectorShapes)
            compare("feedforward", v, [](const auto& in) { return sigmoid(in[0]); }, {s}, 6060);
    }
}

TEST_CASE("the ONNX graphs' ops (channel_affine, spatial_mean, quantize_linear, dequantize_linear): CUDA matches the "
          "CPU reference on odd shapes and the arbitrary-style network's", "[cuda]") {
    NST_REQUIRE_CUDA();
    // The arbitrary-style transform at 384 px: 8 channels at 384, 16 at 192, 32 at 96; odd ones besides.
    const Shape shapes[] = {{1, 3, 7, 5}, {2, 5, 1, 1}, {2, 3, 33, 17}, {1, 32, 96, 96}, {1, 8, 384, 384}};
    for (const auto& v : names(feedforward_variants(DeviceKind::CUDA), false)) {
        for (const Shape& s : shapes) {
            compare("feedforward", v, [](const auto& in) { return channel_affine(in[0], in[1], in[2]); }, {s, {s[1]}, {s[1]}}, 6100);
            compare("feedforward", v, [](const auto& in) { return channel_affine(in[0], in[1], in[2]); },
                    {s, {s[0], s[1]}, {s[0], s[1]}}, 6110);
            compare("feedforward", v, [](const auto& in) { return channel_affine(in[0], {}, in[1]); }, {s, {s[1]}}, 6120);
            compare("feedforward", v, [](const auto& in) { return spatial_mean(in[0]); }, {s}, 6130);
            compare("feedforward", v, [](const auto& in) { return quantize_linear(in[0], 0.0123, -7); }, {s}, 6140);
            compare("feedforward", v, [](const auto& in) { return dequantize_linear(in[0], 0.0123, -7); }, {s}, 6150);
        }
    }
}

TEST_CASE("TransformerNet on the GPU follows the CPU, plain and conditional, forward and backward", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const char* file : {"transformer_tiny.safetensors", "transformer_tiny_cond.safetensors"}) {
        INFO(file);
        const weights::WeightFile w = weights::read_any_weights(std::string(NST_FIXTURES_DIR) + "/" + file);
        TransformerNet cpu = TransformerNet::from_weights(w, Device::cpu(), file);
        TransformerNet gpu = TransformerNet::from_weights(w, Device::cuda(), file);
        if (cpu.styles() > 0) {
            const Tensor alpha = Tensor::from_vector(std::vector<float>{0.6f, 0.1f, 0.3f}, {3});
            cpu.set_style_mix(alpha);
            gpu.set_style_mix(alpha);
        }
        Tensor xc = Tensor::uniform({2, 3, 37, 29}, 0, 255, 61).requires_grad_();
        Tensor xg = xc.detach().to(Device::cuda()).requires_grad_();
        const Tensor yc = cpu.forward(xc), yg = gpu.forward(xg);
        REQUIRE(yg.device() == Device::cuda());
        const double e = test::rel_err(yg, yc);
        INFO("forward rel err " << e);
        CHECK(e < 1e-4);
        const Tensor r = Tensor::uniform(yc.shape(), -1, 1, 62);
        yc.backward(r);
        yg.backward(r.to(Device::cuda()));
        const double eg = test::rel_err(xg.grad(), xc.grad());
        INFO("input gradient rel err " << eg);
        CHECK(eg < 1e-4);
    }
}

TEST_CASE("an ONNX multi-style network on the GPU follows the CPU, forward and input gradient", "[cuda]") {
    NST_REQUIRE_CUDA();
#ifndef NST_HAVE_ONNX
    std::cout << "NST_SKIPPED: built with -DNST_ONNX=OFF (no ONNX reader)\n";
    return;
#endif
    const std::string file = std::string(NST_FIXTURES_DIR) + "/onnx_tiny_multistyle.onnx";
    const OnnxNet cpu(weights::read_onnx(file), Device::cpu()), gpu(weights::read_onnx(file), Device::cuda());
    OnnxTensor mix;
    mix.f = {0.6f, 0.1f, 0.3f};
    mix.shape = {3};
    // 21 x 30: the padded size of a 19 x 27 photo; convs with stride 2 and 9x9 windows, a x2 resize.
    Tensor xc = Tensor::uniform({1, 3, 20, 28}, 0, 1, 71).requires_grad_();
    Tensor xg = xc.detach().to(Device::cuda()).requires_grad_();
    const Tensor yc = cpu.forward(xc, {{"style_weights", mix}}), yg = gpu.forward(xg, {{"style_weights", mix}});
    REQUIRE(yg.device() == Device::cuda());
    const double e = test::rel_err(yg, yc);
    INFO("forward rel err " << e);
    CHECK(e < 1e-5);
    const Tensor r = Tensor::uniform(yc.shape(), -1, 1, 72);
    yc.backward(r);
    yg.backward(r.to(Device::cuda()));
    const double eg = test::rel_err(xg.grad(), xc.grad());
    INFO("input gradient rel err " << eg);
    CHECK(eg < 1e-4);
}

TEST_CASE("blas1: every CUDA variant (own and cuBLAS) matches the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& kv : blas1_variants(DeviceKind::CUDA)) {
        INFO("blas1 variant " << kv.name);
        ScopedVariant pin("blas1", kv.name);
        for (const Shape& s : kVectorShapes) {
            const Tensor x = Tensor::uniform(s, -1, 1, 6000), y = Tensor::uniform(s, -1, 1, 6001);
            const Tensor xd = x.to(Device::cuda());
            Tensor yd = y.to(Device::cuda()), yh = y.clone();
            CHECK(blas::dot(xd, yd).device() == Device::cuda());
            CHECK(blas::dot(xd, yd).item() == Approx(blas::dot(x, y).item()).epsilon(kTol).margin(1e-6));
            CHECK(blas::nrm2(xd).item() == Approx(blas::nrm2(x).item()).epsilon(kTol));
            blas::axpy(-0.75, xd, yd);
            blas::axpy(-0.75, x, yh);
            CHECK(test::rel_err(yd, yh) < kTol);
            blas::scal(1.5, yd);
            blas::scal(1.5, yh);
            CHECK(test::rel_err(yd, yh) < kTol);
        }
    }
}

TEST_CASE("library backend: a conv-relu-pool-gram-mse graph matches the CPU end to end", "[cuda]") {
    NST_REQUIRE_CUDA();
    auto graph = [](const std::vector<Tensor>& in) {
        Tensor h = max_pool2d(relu(conv2d(in[0], in[1], in[2], 1, 1)));
        return add(mse(gram(h), in[3]), scale(total_variation(in[0]), 0.01));
    };
    const std::vector<Shape> shapes{{1, 3, 21, 17}, {19, 3, 3, 3}, {19}, {1, 19, 19}};
    for (Backend b : {Backend::Own, Backend::Library}) {
        set_backend(b);
        compare("conv2d", "", graph, shapes, 7000);
    }
    set_backend(Backend::Own);
}

TEST_CASE("caching allocator: a steady-state forward+backward loop never calls cudaMalloc", "[cuda]") {
    NST_REQUIRE_CUDA();
    const Tensor w = Tensor::randn({16, 3, 3, 3}, 1).to(Device::cuda());
    const Tensor target = Tensor::randn({1, 16, 16}, 2).to(Device::cuda());
    Tensor x = Tensor::randn({1, 3, 33, 31}, 3).to(Device::cuda()).requires_grad_();
    auto step = [&] {
        x.zero_grad();
        Tensor loss = mse(gram(relu(conv2d(x, w, Tensor(), 1, 1))), target);
        loss.backward();
        NoGradGuard ng;
        blas::axpy(-0.1, x.grad(), x);
    };
    step();
    step();
    const auto before = cuda_memory_stats();
    for (int i = 0; i < 5; ++i) step();
    cuda_synchronize();
    const auto after = cuda_memory_stats();
    CHECK(after.cuda_mallocs == before.cuda_mallocs);
    CHECK(after.peak_bytes_in_use > 0);
}

TEST_CASE("CUDA graph: a captured evaluation replays to the eager results, without new allocations", "[cuda]") {
    NST_REQUIRE_CUDA();
    const Tensor w = Tensor::randn({16, 3, 3, 3}, 4).to(Device::cuda());
    const Tensor target = Tensor::randn({1, 16, 16}, 5).to(Device::cuda());
    Tensor x = Tensor::randn({1, 3, 33, 31}, 6).to(Device::cuda());
    Tensor g = Tensor::zeros({x.numel()}, DType::F32, Device::cuda());
    // An evaluation like the objective's: loss on the device, gradient written into g in place.
    auto evaluate = [&] {
        Tensor xi = x.detach().requires_grad_();
        Tensor loss = mse(gram(relu(conv2d(xi, w, Tensor(), 1, 1))), target);
        loss.backward();
        g.copy_(xi.grad().reshape({x.numel()}));
        return loss.detach();
    };
    auto eager = [&] {
        const double l = evaluate().item();
        return std::make_pair(l, g.cpu());
    };
    eager();  // warm-up: caches and workspaces at their size
    CudaGraph graph;
    Tensor loss;
    graph.capture([&] { loss = evaluate(); });
    for (uint64_t seed : {7, 8}) {  // x changes in place between replays
        x.copy_(Tensor::randn({1, 3, 33, 31}, seed));
        const auto [ref_loss, ref_g] = eager();
        const auto before = cuda_memory_stats();
        graph.replay();
        const double got = loss.item();
        CHECK(cuda_memory_stats().cuda_mallocs == before.cuda_mallocs);
        CHECK(got == Approx(ref_loss).epsilon(1e-6));
        CHECK(test::rel_err(g.cpu(), ref_g) < 1e-6);
    }
}

TEST_CASE("CUDA errors: mixing devices names both tensors", "[cuda]") {
    NST_REQUIRE_CUDA();
    const Tensor a = Tensor::zeros({3}), b = Tensor::zeros({3}, DType::F32, Device::cuda());
    CHECK_THROWS_WITH(add(a, b), Catch::Contains("different devices") && Catch::Contains("cuda:0"));
    CHECK_THROWS_WITH(Tensor::zeros({3}, DType::F32, Device::cuda(7)), Catch::Contains("cuda:7"));
}

TEST_CASE("optim: CUDA optimizer kernels match the CPU reference", "[cuda]") {
    NST_REQUIRE_CUDA();
    const OptimVariant& cpu = [] {  // the CPU reference, by name
        for (const auto& v : optim_variants(DeviceKind::CPU))
            if (std::string(v.name) == "reference") return std::cref(v);
        FAIL("no CPU reference optim variant");
        return std::cref(optim_variants(DeviceKind::CPU)[0]);
    }().get();
    for (const auto& kv : optim_variants(DeviceKind::CUDA)) {
        INFO("optim variant " << kv.name);
        for (const Shape& s : kVectorShapes) {
            const int64_t n = shape_numel(s);
            const Tensor g = Tensor::uniform({n}, -1, 1, 8000), x0 = Tensor::uniform({n}, -1, 1, 8001);
            const Tensor gd = g.to(Device::cuda());
            // asum, then scale_by_norm with that norm
            Tensor nh = Tensor::zeros({}), nd = Tensor::zeros({}, DType::F32, Device::cuda());
            cpu.asum(g.data<float>(), n, nh.data<float>());
            kv.asum(gd.data<float>(), n, nd.data<float>());
            CHECK(nd.item() == Approx(nh.item()).epsilon(kTol));
            Tensor oh = Tensor::zeros({n}), od = Tensor::zeros({n}, DType::F32, Device::cuda());
            cpu.scale_by_norm(g.data<float>(), nh.data<float>(), 3.f, n, oh.data<float>());
            kv.scale_by_norm(gd.data<float>(), nd.data<float>(), 3.f, n, od.data<float>());
            CHECK(test::rel_err(od, oh) < kTol);
            // axpy_s / scal_s with a device coefficient
            const Tensor ch = Tensor::scalar(-0.75), cd = ch.to(Device::cuda());
            Tensor yh = x0.clone(), yd = x0.to(Device::cuda());
            cpu.axpy_s(n, ch.data<float>(), 2.f, g.data<float>(), yh.data<float>());
            kv.axpy_s(n, cd.data<float>(), 2.f, gd.data<float>(), yd.data<float>());
            cpu.scal_s(n, ch.data<float>(), yh.data<float>());
            kv.scal_s(n, cd.data<float>(), yd.data<float>());
            CHECK(test::rel_err(yd, yh) < kTol);
            // Adam
            Tensor xh = x0.clone(), xd = x0.to(Device::cuda());
            Tensor mh = Tensor::zeros({n}), vh = Tensor::zeros({n});
            Tensor md = Tensor::zeros({n}, DType::F32, Device::cuda()), vd = Tensor::zeros({n}, DType::F32, Device::cuda());
            for (int t = 1; t <= 3; ++t) {
                cpu.adam_step(n, xh.data<float>(), g.data<float>(), mh.data<float>(), vh.data<float>(), 0.1f, 0.9f, 0.999f, 1e-8f, t);
                kv.adam_step(n, xd.data<float>(), gd.data<float>(), md.data<float>(), vd.data<float>(), 0.1f, 0.9f, 0.999f, 1e-8f, t);
            }
            CHECK(test::rel_err(xd, xh) < kTol);
        }
        // Scalar kernels, both branches of the L-BFGS pair rule.
        for (float ys : {2.5f, -1.f}) {
            auto D = [](float v) { return Tensor::scalar(v, DType::F32, Device::cuda()); };
            Tensor ro = D(7), hd = D(0.5f);
            kv.lbfgs_pair(D(ys).data<float>(), D(4).data<float>(), ro.data<float>(), hd.data<float>());
            CHECK(ro.item() == Approx(ys > 0 ? 1 / 2.5 : 0));
            CHECK(hd.item() == Approx(ys > 0 ? 2.5 / 4 : 0.5));
        }
        auto D = [](float v) { return Tensor::scalar(v, DType::F32, Device::cuda()); };
        Tensor out = D(0);
        kv.scalar_mul(D(3).data<float>(), D(-2).data<float>(), out.data<float>());
        CHECK(out.item() == -6);
        kv.scalar_sub(D(3).data<float>(), D(-2).data<float>(), out.data<float>());
        CHECK(out.item() == 5);
        kv.lbfgs_first_step(D(4).data<float>(), 2.f, out.data<float>());
        CHECK(out.item() == Approx(0.5));
    }
}

TEST_CASE("L-BFGS and Adam on the GPU follow the CPU run on a quadratic", "[cuda]") {
    NST_REQUIRE_CUDA();
    const Tensor a = Tensor::uniform({257}, 0.5, 20, 9000), c = Tensor::uniform({257}, -3, 3, 9001);
    for (const char* kind : {"lbfgs", "adam"}) {
        INFO(kind);
        std::vector<Tensor> finals;
        for (Device d : {Device::cpu(), Device::cuda()}) {
            const Tensor ad = a.to(d), cd = c.to(d);
            auto f = [&](const Tensor& x, Tensor& g) {
                Tensor xl = x.detach().requires_grad_();
                const Tensor diff = sub(xl, cd);
                Tensor loss = scale(sum(mul(ad, mul(diff, diff))), 0.5);
                loss.backward();
                g.copy_(xl.grad());
                return loss.detach();
            };
            Tensor x = Tensor::zeros({257}, DType::F32, d);
            auto opt = std::string(kind) == "lbfgs" ? make_lbfgs(257, d, {10, 1.0, false, false, {}}) : make_adam(257, d, {0.05});
            opt->begin(x, f);
            for (int k = 1; k <= 30; ++k) opt->step(x, f, k < 30);
            finals.push_back(x.cpu());
        }
        CHECK(test::rel_err(finals[1], finals[0]) < 1e-4);
    }
}

TEST_CASE("stylize on the GPU: a tiny run lowers the loss 10x with both backends", "[cuda]") {
    NST_REQUIRE_CUDA();
    const std::string dir = std::filesystem::temp_directory_path() / ("nst_cuda_e2e_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    save_image(tensor_to_image(Tensor::uniform({1, 3, 60, 80}, 0, 1, 1)), dir + "/content.png");
    save_image(tensor_to_image(Tensor::uniform({1, 3, 70, 70}, 0, 1, 2)), dir + "/style.png");
    for (const char* backend : {"own", "library"}) {
        INFO("backend " << backend);
        StylizeOptions o;
        o.content_image = dir + "/content.png";
        o.style_images = {dir + "/style.png"};
        o.weights = test::fixture("vgg_tiny.safetensors");
        o.image_size = 64;
        o.gpu = 0;
        o.backend = backend;
        o.num_iterations = 40;
        o.lbfgs_line_search = true;
        o.print_iter = 0;
        o.save_iter = 0;
        o.output_image = dir + "/out.png";
        std::ostringstream log;
        const StylizeResult r = stylize(o, log);
        CHECK(r.final_loss * 10 <= r.initial_loss);
        CHECK(r.device.rfind("cuda:0", 0) == 0);
        CHECK(r.peak_memory_bytes > 0);
        // The same run (fixed-step L-BFGS, neural-style's default) with its evaluations replayed from a
        // CUDA graph ends where the eager run does.
        o.lbfgs_line_search = false;
        o.num_iterations = 12;
        const StylizeResult eager = stylize(o, log);
        o.cuda_graph = true;
        std::ostringstream glog;
        const StylizeResult graphed = stylize(o, glog);
        INFO(glog.str());
        CHECK(glog.str().find("capture failed") == std::string::npos);
        CHECK(graphed.evaluations == eager.evaluations);
        CHECK(graphed.final_loss == Approx(eager.final_loss).epsilon(1e-5));
    }
    set_backend(Backend::Own);
    std::filesystem::remove_all(dir);
}

// ---- the real VGG-19 layer shapes (issue #11): every own rung, forward and backward-data ----
namespace {

// VGG-19's distinct conv layers (C -> K, all 3x3 "same") at one small spatial size, 24x17 (odd, H != W).
// C·9 is a multiple of 4 for every layer but the first, so the float4 weight loads of the igemm rungs
// run in all layers but conv1_1 (27 columns: the scalar path), in the forward and in backward-data
// (whose transposed filters have K·9 columns).
struct VggConv { const char* name; int C, K; };
const VggConv kVggConvs[] = {{"conv1_1", 3, 64},    {"conv1_2", 64, 64},   {"conv2_1", 64, 128},
                             {"conv2_2", 128, 128}, {"conv3_1", 128, 256}, {"conv3_2", 256, 256},
                             {"conv4_1", 256, 512}, {"conv4_2", 512, 512}};

}  // namespace

TEST_CASE("conv2d: every own CUDA rung on the VGG-19 layer shapes at 24x17, plain and prepared", "[cuda][vgg]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : conv2d_variants(DeviceKind::CUDA)) {
        if (v.library) continue;
        for (const VggConv& l : kVggConvs) {
            INFO(l.name << " (" << l.C << " -> " << l.K << ") at 24x17");
            // Plain weights: forward and backward-data (the weight gradient is never needed by style transfer
            // and its naive kernel is one block per weight: left to the odd-shape tests).
            compare("conv2d", v.name, [](const auto& in) { return conv2d(in[0], in[1], in[2], 1, 1); },
                    {{1, l.C, 24, 17}, {l.K, l.C, 3, 3}, {l.K}}, 7000 + l.K, {true, false, false});
            if (!v.prepare) continue;
            // Prepared (frozen) weights, as VGG-19 holds them: the flipped filters made once.
            INFO("prepared, variant " << v.name);
            compare_prepared(v.name, ConvCase{1, l.C, 24, 17, l.K, 3, 3, 1, 1, true}, 51);
        }
    }
}

// The ReLU in the conv's epilogue (conv2d_relu, as VGG19 runs every conv that is not a tap), on each own
// rung: its forward follows the CPU reference, and forward and gradients equal relu(conv2d) on the same
// rung to the bit (relu(conv2d)'s own agreement with the CPU is the tests above). Gradients are not
// compared with the CPU's here: an output within rounding of 0 may be rectified on one side only, and
// then its whole upstream gradient differs (a kink, not an error). Odd shapes (x, w and b gradients) and
// VGG-19's at 24x17 (x): conv4_1 is split over K there in the mma rung, so the ReLU runs in the split
// reduce, and conv1_1's backward-data runs on the thin kernel.
namespace {
#ifndef __SANITIZE_THREAD__
constexpr int kFusedReluMaxCK = 1000;
#else
// Under ThreadSanitizer (pass 4: 461 s for this test with the cases below 1000) only the small cases: the
// epilogue runs after each kernel's last barrier, and the conv tests race-check the same main loops.
constexpr int kFusedReluMaxCK = 100;
#endif

void compare_fused_relu(const std::string& variant, const ConvCase& c, uint64_t seed, bool weight_grads) {
    INFO("conv2d_relu, variant " << variant << ": N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K
                                 << " " << c.R << "x" << c.S << " stride " << c.stride << " pad " << c.pad);
    const Tensor xh = Tensor::uniform({c.N, c.C, c.H, c.W}, -1, 1, seed);
    const Tensor wh = Tensor::uniform({c.K, c.C, c.R, c.S}, -1, 1, seed + 1);
    const Tensor bh = c.bias ? Tensor::uniform({c.K}, -1, 1, seed + 2) : Tensor();
    Tensor ref;
    {
        ScopedVariant r("conv2d", "reference");
        ref = conv2d_relu(xh, wh, bh, c.stride, c.pad);
    }
    ScopedVariant pin("conv2d", variant);
    auto leaf = [&](const Tensor& h, bool grad) {
        if (!h.defined()) return Tensor();
        Tensor d = h.to(Device::cuda());
        return grad ? d.requires_grad_() : d;
    };
    Tensor x1 = leaf(xh, true), w1 = leaf(wh, weight_grads), b1 = leaf(bh, weight_grads);
    Tensor x2 = leaf(xh, true), w2 = leaf(wh, weight_grads), b2 = leaf(bh, weight_grads);
    Tensor one = conv2d_relu(x1, w1, b1, c.stride, c.pad), two = relu(conv2d(x2, w2, b2, c.stride, c.pad));
    CHECK(test::rel_err(one, ref) < tolerance(variant));
    const Tensor g = Tensor::uniform(ref.shape(), -1, 1, seed + 3).to(Device::cuda()), g0 = g.clone();
    one.backward(g);  // the caller's seed: masked into a buffer of its own, g left as it was
    two.backward(g);
    CHECK(test::same_bits(g, g0));
    CHECK(test::same_bits(one, two));
    CHECK(test::same_bits(x1.grad(), x2.grad()));
    if (weight_grads) {
        CHECK(test::same_bits(w1.grad(), w2.grad()));
        if (c.bias) CHECK(test::same_bits(b1.grad(), b2.grad()));
    }
    // Through a loss the engine owns the upstream gradient, and the fused backward masks it in place.
    x1.zero_grad(), x2.zero_grad();
    sum(mul(conv2d_relu(x1, w1, b1, c.stride, c.pad), g)).backward();
    sum(mul(relu(conv2d(x2, w2, b2, c.stride, c.pad)), g)).backward();
    CHECK(test::same_bits(x1.grad(), x2.grad()));
}
}  // namespace

TEST_CASE("conv2d_relu: every own CUDA rung follows the CPU forward and equals relu(conv2d) to the bit", "[cuda]") {
    NST_REQUIRE_CUDA();
    for (const auto& v : conv2d_variants(DeviceKind::CUDA)) {
        if (v.library) continue;
        uint64_t seed = 8000;
        for (const ConvCase& c : kConvCases)  // the epilogue on ragged tiles; the large case adds nothing here
            if (c.C * c.K < kFusedReluMaxCK) compare_fused_relu(v.name, c, seed += 10, true);
    }
}

TEST_CASE("conv2d_relu: every own CUDA rung on VGG-19 shapes at 24x17 (split-K reduce, thin kernel) equals relu(conv2d)",
          "[cuda][vgg]") {
    NST_REQUIRE_CUDA();
    const VggConv layers[] = {kVggConvs[0], kVggConvs[2], kVggConvs[6]};
    for (const auto& v : conv2d_variants(DeviceKind::CUDA))
        if (!v.library)
            for (const VggConv& l : layers) compare_fused_relu(v.name, ConvCase{1, l.C, 24, 17, l.K, 3, 3, 1, 1, true}, 8500 + l.K, false);
}

// igemm128 sends grids under one wave of its 128x128 tiles to rung 3, so every odd shape above runs on
// rung 3's kernel: these grids are large enough for its own (forward 266 and 256 tiles, backward-data 256),
// with ragged last tiles in both directions, k not a multiple of 8, and the ReLU epilogue.
TEST_CASE("conv2d igemm128 on grids of at least one wave follows the CPU (large grid)", "[cuda]") {
    NST_REQUIRE_CUDA();
    compare("conv2d", "igemm128", [](const auto& in) { return conv2d_relu(in[0], in[1], in[2], 1, 1); },
            {{1, 5, 131, 129}, {130, 5, 3, 3}, {130}}, 9100, {true, false, false});
    compare("conv2d", "igemm128", [](const auto& in) { return conv2d(in[0], in[1], in[2], 1, 1); },
            {{2, 37, 128, 128}, {24, 37, 3, 3}, {24}}, 9200, {true, false, false});
#ifndef __SANITIZE_THREAD__  // (the main loop is race-checked above; this adds 150 s under TSan)
    // C 8: rows of W 16-byte aligned (the float4 path); the fused ReLU on its own tiles, to the bit.
    compare_fused_relu("igemm128", ConvCase{1, 8, 130, 130, 128, 3, 3, 1, 1, true}, 9300, false);
#endif
}

TEST_CASE("gram: every own CUDA rung on the VGG-19 style-layer shapes, forward and backward", "[cuda][vgg]") {
    NST_REQUIRE_CUDA();
    // relu1_1 .. relu5_1 channel counts at 24x17, and relu1_1 at 96x128 (a long H·W: many k-splits).
    const Shape shapes[] = {{1, 64, 24, 17}, {1, 128, 12, 9}, {1, 256, 6, 5}, {1, 512, 3, 3}, {1, 512, 2, 2},
                            {1, 64, 96, 128}};
    for (const auto& v : names(gram_variants(DeviceKind::CUDA), false))
        for (const Shape& s : shapes) compare("gram", v, [](const auto& in) { return gram(in[0]); }, {s}, 4100);
}

// ---- stylize on the device against the CPU, iteration by iteration ----
namespace {

// Total and per-term losses of every iteration of a run, read from its --log-json.
std::vector<std::vector<double>> losses_by_iteration(StylizeOptions o, const std::string& json) {
    o.log_json = json;
    o.print_iter = 1;
    std::ostringstream log;
    stylize(o, log);
    const auto j = nlohmann::json::parse(std::ifstream(json));
    std::vector<std::vector<double>> r;
    for (const auto& it : j["iterations"]) {
        std::vector<double> row{it["total"].get<double>(), it["tv"].get<double>()};
        for (double c : it["content"]) row.push_back(c);
        for (double s : it["style"]) row.push_back(s);
        r.push_back(row);
    }
    return r;
}

}  // namespace

TEST_CASE("stylize --gpu 0 at 40 px follows the CPU run for 5 iterations with each conv and Gram rung", "[cuda][e2e]") {
    NST_REQUIRE_CUDA();
    const std::string dir = std::filesystem::temp_directory_path() / ("nst_cuda_steps_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    StylizeOptions o;
    // The real VGG-19 and photos when ../shared has them; otherwise the committed tiny network.
    const bool real = test::exists(test::shared("weights/vgg19-conv.safetensors"));
    o.weights = real ? test::shared("weights/vgg19-conv.safetensors") : test::fixture("vgg_tiny.safetensors");
    o.content_image = real ? test::shared("images/chelsea.png") : test::fixture("tiny_rgb.png");
    o.style_images = {real ? test::shared("images/starry_night.jpg") : test::fixture("vgg_preview.png")};
    INFO("weights " << o.weights);
    o.image_size = 40;
    o.num_iterations = 5;
    o.init = "image";
    // Adam, not L-BFGS: neural-style's first L-BFGS step is tiny (1/|g|₁), so its second direction is a
    // difference of two nearly equal gradients, where rounding at 1e-7 grows past 1e-3 by iteration 3
    // even between two CPU kernels (reference vs Winograd). Adam's normalised steps pass rounding on as is.
    o.optimizer = "adam";
    o.save_iter = 0;
    o.output_image = dir + "/out.png";
    // The CPU run on the reference kernels (the spec): the fast CPU variants (Winograd) round differently,
    // and the first L-BFGS steps from the content image amplify any rounding difference ~1000x.
    o.gpu = -1;
    std::vector<std::vector<double>> cpu;
    {
        ScopedVariant conv("conv2d", "reference"), gram_ref("gram", "reference");
        cpu = losses_by_iteration(o, dir + "/cpu.json");
    }
    REQUIRE(cpu.size() == 5);
    o.gpu = 0;
    double worst[2] = {0, 0};  // fp32, TF32
    auto check_run = [&](const std::string& op, const std::string& variant) {
        ScopedVariant pin(op, variant);
        const auto gpu = losses_by_iteration(o, dir + "/gpu.json");
        // fp32 rungs: 1e-3 relative; TF32 rungs round every conv or Gram input to 10 mantissa bits.
        const double tol = variant.find("tf32") != std::string::npos ? 3e-2 : 1e-3;
        REQUIRE(gpu.size() == cpu.size());
        for (size_t i = 0; i < cpu.size(); ++i)
            for (size_t t = 0; t < cpu[i].size(); ++t) {
                INFO(op << "=" << variant << ", iteration " << i + 1 << ", term " << t << ": " << gpu[i][t] << " vs CPU "
                        << cpu[i][t]);
                CHECK(std::abs(gpu[i][t] - cpu[i][t]) <= tol * std::abs(cpu[i][t]));
                if (cpu[i][t] != 0) {
                    double& w = worst[tol > 1e-3];
                    w = std::max(w, std::abs(gpu[i][t] - cpu[i][t]) / std::abs(cpu[i][t]));
                }
            }
    };
    for (const auto& v : names(conv2d_variants(DeviceKind::CUDA), false)) check_run("conv2d", v);
    for (const auto& v : names(gram_variants(DeviceKind::CUDA), false)) check_run("gram", v);
    std::cout << "largest relative difference from the CPU over 5 iterations: fp32 rungs " << worst[0]
              << ", TF32 rungs " << worst[1] << "\n";
    std::filesystem::remove_all(dir);
}

TEST_CASE("stylize --precision tf32 on the GPU runs the mma rungs and says TF32, but keeps a pinned variant", "[cuda]") {
    NST_REQUIRE_CUDA();
    const std::string dir = std::filesystem::temp_directory_path() / ("nst_cuda_tf32_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    StylizeOptions o;
    o.weights = test::fixture("vgg_tiny.safetensors");
    o.content_image = test::fixture("tiny_rgb.png");
    o.style_images = {test::fixture("vgg_preview.png")};
    o.image_size = 40;
    o.num_iterations = 3;
    o.save_iter = 0;
    o.print_iter = 0;
    o.output_image = dir + "/out.png";
    o.gpu = 0;
    o.precision = "tf32";
    const bool tf32_before = allow_tf32();
    std::ostringstream log;
    const StylizeResult r = stylize(o, log);
    CHECK(r.device.find("TF32") != std::string::npos);
    CHECK(pinned_variant("conv2d") == "igemm_mma_tf32");
    CHECK(pinned_variant("gram") == "syrk_mma_tf32");
    CHECK(allow_tf32());
    CHECK(r.final_loss < r.initial_loss);
    set_variant("conv2d", "");
    set_variant("gram", "");
    {
        ScopedVariant keep("conv2d", "igemm");  // NST_KERNELS or a caller's pin wins over --precision
        stylize(o, log);
        CHECK(pinned_variant("conv2d") == "igemm");
        CHECK(pinned_variant("gram") == "syrk_mma_tf32");
    }
    set_variant("gram", "");
    set_allow_tf32(tf32_before);
    std::filesystem::remove_all(dir);
}

TEST_CASE("the controls and tiles on the GPU: masks, a coarse style and a tiled evaluation match the CPU's",
          "[cuda]") {
    NST_REQUIRE_CUDA();
    const auto w = weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors"));
    const Tensor content = Tensor::uniform({1, 3, 80, 96}, 0, 1, 11), a = Tensor::uniform({1, 3, 64, 64}, 0, 1, 12),
                 b = Tensor::uniform({1, 3, 72, 60}, 0, 1, 13);
    std::vector<float> left(80 * 96), right(80 * 96);
    for (int i = 0; i < 80; ++i)
        for (int j = 0; j < 96; ++j) (j < 48 ? left : right)[size_t(i * 96 + j)] = 1.0f;
    StyleControls controls;
    controls.coarse_style = b;
    controls.coarse_layers = {"relu4_1", "relu5_1"};
    controls.masks = {Tensor::from_vector(left, {1, 1, 80, 96}), Tensor::from_vector(right, {1, 1, 80, 96})};
    StyleControls coarse_only = controls;
    coarse_only.masks.clear();
    const Tensor x = scale(Tensor::randn({1, 3, 80, 96}, 14), 20.0);
    ObjectiveConfig cfg;
    auto compare = [&](Objective& cpu, Objective& gpu) {
        Tensor gc = Tensor::zeros({x.numel()}), gg = Tensor::zeros({x.numel()}, DType::F32, Device::cuda());
        const double fc = cpu.evaluate(x, gc).item(), fg = gpu.evaluate(x.to(Device::cuda()), gg).item();
        CHECK(fg == Approx(fc).epsilon(1e-4));
        CHECK(test::rel_err(gg.cpu(), gc) < 1e-4);
    };
    {
        INFO("masks and a coarse style");
        StyleObjective cpu(w, Device::cpu(), cfg, content, {a, b}, {}, controls);
        StyleObjective gpu(w, Device::cuda(), cfg, content, {a, b}, {}, controls);
        compare(cpu, gpu);
    }
    {
        INFO("tiles of 32 pixels with a coarse style");
        TiledObjective cpu(w, Device::cpu(), cfg, content, {a}, {}, coarse_only, 32);
        TiledObjective gpu(w, Device::cuda(), cfg, content, {a}, {}, coarse_only, 32);
        CHECK(gpu.grid().tiles.size() == 9);
        compare(cpu, gpu);
    }
}

TEST_CASE("temporal term on the GPU: value and gradient match the CPU on odd and video-frame shapes, and "
          "the objective with it follows the CPU's", "[cuda]") {
    NST_REQUIRE_CUDA();
    const auto w = weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors"));
    const VGG19 cpu_net(w, Device::cpu(), {"relu1_1"});
    for (const auto& [h, wd] : {std::pair<int64_t, int64_t>{37, 23}, {288, 512}}) {
        INFO(wd << "x" << h);
        const Tensor warped = Tensor::uniform({1, 3, h, wd}, 0, 1, 21);
        std::vector<float> c(size_t(h * wd));
        for (size_t i = 0; i < c.size(); ++i) c[i] = (i * 7919) % 5 == 0 ? 0.0f : 1.0f;
        const TemporalTarget tc = make_temporal_target(cpu_net, warped, c, Device::cpu());
        const TemporalTarget tg = make_temporal_target(cpu_net, warped, c, Device::cuda());
        REQUIRE(tg.mask.device() == Device::cuda());
        Tensor xc = scale(Tensor::randn({1, 3, h, wd}, 22), 30.0).requires_grad_();
        Tensor xg = xc.detach().to(Device::cuda()).requires_grad_();
        const Tensor fc = temporal_loss(xc, tc), fg = temporal_loss(xg, tg);
        fc.backward();
        fg.backward();
        CHECK(fg.item() == Approx(fc.item()).epsilon(2e-5));
        CHECK(test::rel_err(xg.grad().cpu(), xc.grad()) < 2e-5);
    }
    // The whole objective: style, content and temporal terms on a 40x56 frame.
    const Tensor content = Tensor::uniform({1, 3, 40, 56}, 0, 1, 23), style = Tensor::uniform({1, 3, 48, 48}, 0, 1, 24);
    StyleObjective base_c(w, Device::cpu(), ObjectiveConfig{}, content, {style}, {});
    StyleObjective base_g(w, Device::cuda(), ObjectiveConfig{}, content, {style}, {});
    TemporalObjective oc(base_c, 1e3), og(base_g, 1e3);
    std::vector<float> c(40 * 56, 1.0f);
    for (size_t i = 0; i < c.size(); i += 3) c[i] = 0;
    const Tensor warped = Tensor::uniform({1, 3, 40, 56}, 0, 1, 25);
    oc.set_target(make_temporal_target(base_c.net(), warped, c, Device::cpu()));
    og.set_target(make_temporal_target(base_g.net(), warped, c, Device::cuda()));
    const Tensor x = scale(Tensor::randn({1, 3, 40, 56}, 26), 20.0);
    Tensor gc = Tensor::zeros({x.numel()}), gg = Tensor::zeros({x.numel()}, DType::F32, Device::cuda());
    const double fc = oc.evaluate(x, gc).item(), fg = og.evaluate(x.to(Device::cuda()), gg).item();
    CHECK(fg == Approx(fc).epsilon(1e-4));
    CHECK(og.last().temporal.item() == Approx(oc.last().temporal.item()).epsilon(1e-4));
    CHECK(test::rel_err(gg.cpu(), gc) < 1e-4);
}

TEST_CASE("train_style --gpu 0 follows the CPU run: the same first loss and first gradient (Adam's moments)", "[cuda][train]") {
    NST_REQUIRE_CUDA();
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nst_cuda_train_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "photos");
    for (int i = 0; i < 3; ++i) {
        Image img;
        img.width = 20 + 5 * i, img.height = 18 + 3 * i;
        img.rgb.resize(size_t(img.width) * img.height * 3);
        for (size_t j = 0; j < img.rgb.size(); ++j) img.rgb[j] = float((j * (5 + 2 * i) + 17 * i) % 251) / 250.f;
        save_image(img, (dir / "photos" / ("p" + std::to_string(i) + ".png")).string());
    }
    TrainOptions o;
    o.style_images = {test::fixture("kind_rgb.jpg")};
    o.content_dir = (dir / "photos").string();
    o.weights = test::fixture("vgg_tiny.safetensors");
    o.iterations = 2, o.batch_size = 2, o.image_size = 16, o.style_size = 32, o.learning_rate = 1e-2;
    o.widths = {4, 4, 8};
    o.print_iter = 0, o.save_iter = 1;
    std::ostringstream log;
    const auto run = [&](int gpu, const std::string& name) {
        o.gpu = gpu;
        o.output_model = (dir / (name + ".safetensors")).string();
        o.checkpoint = (dir / (name + ".ckpt")).string();
        return train_style(o, log);
    };
    const TrainResult cpu = run(-1, "cpu"), gpu = run(0, "gpu");
    INFO(log.str());
    CHECK(log.str().find("on cuda") != std::string::npos);
    CHECK(std::abs(gpu.first_loss - cpu.first_loss) < 1e-5 * std::abs(cpu.first_loss));
    // Adam moves every parameter by ±lr on its first step, whatever the gradient's size, so a gradient
    // that is zero up to rounding (a conv bias ahead of an instance norm) takes its sign from the
    // summation order and the weights part by 2·lr there; the moments after step 1, (1−β1)·g and
    // (1−β2)·g², hold the first gradient itself.
    const auto state = [&](const std::string& name, const std::string& key) {
        return weights::read_safetensors((dir / (name + ".ckpt")).string()).tensors.at("optimizer." + key).values;
    };
    for (const char* key : {"m", "v"}) {
        INFO(key);
        const std::vector<float> a = state("gpu", key), b = state("cpu", key);
        REQUIRE(a.size() == b.size());
        double d = 0, n = 0;
        for (size_t i = 0; i < a.size(); ++i) d += double(a[i] - b[i]) * (a[i] - b[i]), n += double(b[i]) * b[i];
        CHECK(std::sqrt(d / n) < 1e-4);
    }
    std::filesystem::remove_all(dir);
}
