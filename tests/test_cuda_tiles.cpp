// Tiled feed-forward stylization on the GPU (stylize/tiled_style_network.h): the picture stays on the host,
// each tile runs on the device with the whole picture's instance-norm statistics given or collected there
// (core/norm_stats.h), and the result equals the untiled GPU picture and follows the CPU's.
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/norm_stats.h"
#include "core/ops.h"
#include "layers/transformer_net.h"
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
