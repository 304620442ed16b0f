// bench_eval: times the style-transfer function evaluation (VGG-19 forward through relu5_1, content loss
// at relu4_2, Gram style losses at relu1_1..relu5_1, backward to the image; frozen weights) — the unit
// of work of one L-BFGS iteration — and prints one line of figures. scripts/bench-cpu.sh runs it beside
// the same work in PyTorch (tests/peer/gatys_eval_torch.py).
//
//   bench_eval --content C --style S [--image-size 256] [--evals 5] [--threads 2] [--gpu -1] [--weights W]
//              [--cuda-graph] [--tf32] [--json FILE]
//
// --json FILE also writes the figures (ms per evaluation, median and min, GFLOP, peak memory), the
// settings (device and card, size, TF32, CUDA graph, backend, NST_KERNELS) and the variants in effect,
// for scripts (scripts/gpu-verify.sh).
// FLOP counted: conv forward and backward-data (2·K·C·R·S·P·Q each; no weight gradients), Gram forward
// (C²·HW) and backward (2·C²·HW). The sgemm ceiling is the project's GEMM on a 1536³ product with the same
// threads (apps/gemm_ceiling.h); OpenBLAS's is printed beside it where it was built.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "apps/gemm_ceiling.h"
#include "core/allocator.h"
#include "core/cuda_graph.h"
#include "layers/vgg19.h"
#include "core/dispatch.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/cpu/gemm.h"
#include "base/device.h"
#include "base/file_io.h"
#include "kernels/registry.h"
#include "media/image.h"
#include "nst/objective.h"
#include "weights/vgg19_weights.h"

using namespace nst;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// FLOP of one evaluation on an H x W input.
double eval_gflop(int H, int W, const weights::Vgg19Weights& w) {
    double flop = 0;
    int h = H, wd = W, conv = 0;
    const std::vector<std::string> style{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
    for (const auto& name : VGG19::layer_names()) {
        if (name.rfind("conv", 0) == 0) {
            const auto& s = w.file.tensors.at("features." + std::to_string(weights::kVgg19Convs[size_t(conv++)].index) + ".weight").shape;
            flop += 2.0 * 2.0 * double(s[0]) * double(s[1]) * 9.0 * h * wd;  // forward + backward-data
        } else if (name.rfind("pool", 0) == 0) {
            h /= 2, wd /= 2;
        } else if (std::find(style.begin(), style.end(), name) != style.end()) {
            const auto& s = w.file.tensors.at("features." + std::to_string(weights::kVgg19Convs[size_t(conv - 1)].index) + ".weight").shape;
            flop += 3.0 * double(s[0]) * double(s[0]) * h * wd;
        }
        if (name == "relu5_1") break;
    }
    return flop / 1e9;
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Time the style-transfer function evaluation"};
    std::string content, style, weights_path, json_path;
    int size = 256, evals = 5, threads = 0, gpu = -1;
    app.add_option("--content", content, "content image")->required();
    app.add_option("--style", style, "style image")->required();
    app.add_option("--weights", weights_path, "VGG-19 weights (default: as stylize finds them)");
    app.add_option("--image-size", size, "longest side (default 256)");
    app.add_option("--evals", evals, "timed evaluations after two warm-ups (default 5)");
    app.add_option("--threads", threads, "CPU threads (default: all hardware threads, or $NST_THREADS)");
    app.add_option("--gpu", gpu, "CUDA device, or -1 for the CPU (default)");
    bool use_graph = false, tf32 = false, unfused_relu = false;
    app.add_flag("--cuda-graph", use_graph, "GPU: capture one evaluation as a CUDA graph and time its replays");
    app.add_flag("--unfused-relu", unfused_relu,
                 "run each VGG ReLU as an op of its own, not in its conv's epilogue (as NST_FUSE_RELU=0; same results)");
    app.add_flag("--tf32", tf32, "GPU: let cuDNN/cuBLAS and the *_tf32 kernels use TF32 (default: fp32 everywhere)");
    app.add_option("--json", json_path, "also write the figures, the settings and the variants in effect to this JSON file");
    CLI11_PARSE(app, argc, argv);
    try {
        set_cpu_threads(threads);
        set_allow_tf32(tf32);
        if (unfused_relu) set_vgg_fuse_relu(false);
        if (use_graph && gpu < 0) throw Error("--cuda-graph needs --gpu");
        Device dev = Device::cpu();
        if (gpu >= 0) {
            set_cuda_device(gpu);
            dev = Device::cuda(gpu);
        }
        if (weights_path.empty()) weights_path = weights::find_default_weights();
        const weights::Vgg19Weights w = weights::load_vgg19_weights(weights_path);
        const Image c = resize_longest(load_image(content), size);
        const Image s = resize_longest(load_image(style), size);
        StyleObjective obj(w, dev, ObjectiveConfig{}, image_to_tensor(c), {image_to_tensor(s)}, {});
        Tensor x = obj.net().preprocess(image_to_tensor(c)).to(dev);
        Tensor g = Tensor::zeros({x.numel()}, DType::F32, dev);
        std::vector<double> times;
        CudaGraph graph;
        Tensor graph_loss;
        double eager_loss = 0;
        for (int i = 0; i < evals + 2; ++i) {
            const auto t = clock_type::now();
            if (graph.captured()) {
                graph.replay();
                graph_loss.item();  // wait for the device
            } else {
                eager_loss = obj.evaluate(x, g).item();  // item(): wait for the device
            }
            if (i >= 2) times.push_back(seconds_since(t));
            if (use_graph && i == 1) {  // warmed up: record one evaluation, replay it from now on
                graph.capture([&] { graph_loss = obj.evaluate(x, g); });
                graph.replay();
                const double replayed = graph_loss.item();
                std::printf("CUDA graph: captured one evaluation; its replay gives loss %.6g (eager %.6g)\n", replayed,
                            eager_loss);
            }
        }
        std::sort(times.begin(), times.end());
        const double med = times[times.size() / 2], gflop = eval_gflop(c.height, c.width, w);
        struct rusage ru {};
        getrusage(RUSAGE_SELF, &ru);
        const double peak_mib = dev.is_cuda() ? double(cuda_memory_stats().peak_bytes_in_use) / (1 << 20) : double(ru.ru_maxrss) / 1024;
        const double ceiling = dev.is_cpu() ? bench::ceiling_ours(cpu_threads(), 0.2) : 0;
        const double ceiling_blas = dev.is_cpu() ? bench::ceiling_openblas(cpu_threads(), 0.2) : 0;
        if (dev.is_cpu())
            std::printf("cpu: %s; isa: %s; gemm micro-kernel %s; OpenBLAS sgemm %.1f GFLOP/s\n", cpu::cpu_model_name().c_str(),
                        cpu::cpu_isa().c_str(), cpu::gemm_kernel_name().c_str(), ceiling_blas);
        if (dev.is_cuda()) std::printf("nst on cuda:%d, conv2d kernel %s, gram kernel %s, TF32 %s, ReLU %s%s\n", gpu,
                                        conv2d_kernels(dev).name, gram_kernels(dev).name, tf32 ? "on" : "off",
                                        vgg_fuse_relu() ? "in the conv epilogue" : "separate", use_graph ? ", CUDA graph replays" : "");
        if (dev.is_cpu())
            std::printf("nst %dx%d threads %d: %.4f s/eval (min %.4f), %.1f GFLOP/eval, %.1f GFLOP/s, sgemm %.1f GFLOP/s (%.0f%%), peak %.0f MiB\n",
                        c.width, c.height, cpu_threads(), med, times.front(), gflop, gflop / med, ceiling,
                        ceiling > 0 ? 100.0 * gflop / med / ceiling : 0.0, peak_mib);
        else  // the CPU's thread count and SGEMM ceiling say nothing about a GPU run
            std::printf("nst %dx%d cuda:%d: %.4f s/eval (min %.4f), %.1f GFLOP/eval, %.1f GFLOP/s, peak %.0f MiB\n", c.width,
                        c.height, gpu, med, times.front(), gflop, gflop / med, peak_mib);
        if (!json_path.empty()) {
            const char* kernels_env = std::getenv("NST_KERNELS");
            const double loss = graph.captured() ? graph_loss.item() : eager_loss;
            const nlohmann::json doc = {
                {"device", dev.str()},
                {"card", dev.is_cuda() ? cuda_availability().device_name : cpu::cpu_model_name()},
                {"width", c.width},
                {"height", c.height},
                {"evals", evals},
                {"threads", dev.is_cpu() ? cpu_threads() : 0},
                {"tf32", tf32},
                {"cuda_graph", use_graph},
                {"fused_relu", vgg_fuse_relu()},
                {"backend", backend() == Backend::Library ? "library" : "own"},
                {"nst_kernels", kernels_env ? nlohmann::json(kernels_env) : nlohmann::json(nullptr)},
                {"variants",
                 {{"conv2d", conv2d_kernels(dev).name},
                  {"gram", gram_kernels(dev).name},
                  {"relu", relu_kernels(dev).name},
                  {"max_pool", max_pool_kernels(dev).name}}},
                {"ms_per_eval", number_or_null(med * 1e3)},
                {"min_ms", number_or_null(times.front() * 1e3)},
                {"gflop_per_eval", number_or_null(gflop)},
                {"gflops", number_or_null(gflop / med)},
                {"peak_mib", number_or_null(peak_mib)},
                {"loss", number_or_null(loss)}};
            write_file_atomic(json_path, doc.dump(1) + "\n");
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_eval: error: %s\n", e.what());
        return 1;
    }
}
