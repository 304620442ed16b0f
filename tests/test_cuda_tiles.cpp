// Tiled feed-forward stylization on the GPU (stylize/tiled_style_network.h): the picture stays on the host,
// each tile runs on the device with the whole picture's instance-norm statistics given or collected there
// (core/norm_stats.h), and the result equals the untiled GPU picture and follows the CPU's.
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/norm_stats.h"
#include "core/ops.h"
#include "layers/transformer_net.h"
#ifdef NST_HAVE_ONNX
#include "layers/onnx_net.h"
#include "weights/onnx_model.h"
#endif
#include <cmath>
#include "stylize/tiled_style_network.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "weights/vgg19_weights.h"

using namespace nst;

TEST_CASE("tiled TransformerNet and ONNX network on the GPU equal the untiled picture", "[cuda][tiles]") {
    NST_REQUIRE_CUDA();
    const Tensor x = Tensor::uniform({1, 3, 68, 86}, 0, 1, 21);
    for (const char* file : {"transformer_tiny.safetensors", "transformer_tiny_cond.safetensors", "onnx_tiny_multistyle.onnx"}) {
        INFO(file);
        const std::string path = std::string(NST_FIXTURES_DIR) + "/" + file;
#ifndef NST_HAVE_ONNX
        if (std::string(file).find(".onnx") != std::string::npos) continue;
#endif
        StyleNetwork gpu = StyleNetwork::load(path, Device::cuda()), cpu = StyleNetwork::load(path, Device::cpu());
        if (gpu.styles() > 0) {
            std::vector<float> mix(size_t(gpu.styles()), 0.0f);
            mix[0] = 0.6f, mix.back() += 0.4f;
            gpu.set_style_mix(mix);
            cpu.set_style_mix(mix);
        }
        Tensor whole_gpu, whole_cpu;
        {
            NoGradGuard no_grad;
            whole_gpu = gpu.apply(x.to(Device::cuda())).cpu();
            whole_cpu = cpu.apply(x);
        }
        TiledRun run;
        const Tensor tiled = apply_tiled(gpu, x, 48, &run);
        CHECK(tiled.device() == Device::cpu());
        CHECK(run.norms > 0);
        CHECK(test::rel_err(tiled, whole_gpu) < 1e-5);
        CHECK(test::rel_err(tiled, whole_cpu) < 1e-4);
        CHECK(NormStatsPlan::current() == nullptr);
    }
}

#ifdef NST_HAVE_ONNX
TEST_CASE("an int8 channels-last ONNX network (quantize, per-channel affine, plane means) on the GPU gives the CPU's picture",
          "[cuda]") {
    NST_REQUIRE_CUDA();
    const auto model = weights::read_onnx(std::string(NST_FIXTURES_DIR) + "/onnx_tiny_qdq_nhwc.onnx");
    const Tensor x = Tensor::uniform({1, 3, 20, 28}, 0, 1, 31);
    weights::OnnxTensor style;
    style.shape = {1, 1, 1, 6};
    style.f = {0.5f, -1.0f, 0.25f, 1.5f, -0.75f, 0.1f};
    NoGradGuard no_grad;
    const Tensor cpu = OnnxNet(model, Device::cpu()).forward(x, {{"style", style}});
    const Tensor gpu = OnnxNet(model, Device::cuda()).forward(x.to(Device::cuda()), {{"style", style}}).cpu();
    REQUIRE(gpu.shape() == cpu.shape());
    const auto a = cpu.to_vector<double>(), b = gpu.to_vector<double>();
    int differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += std::fabs(a[i] - b[i]) > 1e-6;
    INFO(differ << " of " << a.size() << " values differ");
    // Quantized values: equal, except where a sum's order moves a value across a rounding boundary.
    CHECK(differ <= int(a.size() / 100));
    double spread = 0;
    for (double v : a) spread = std::max(spread, std::fabs(v - a[0]));
    CHECK(spread > 0.05);  // a picture, not a constant
}
#endif
