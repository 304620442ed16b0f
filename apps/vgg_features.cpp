// vgg_features: writes VGG-19 activations of one image at named layers to a safetensors file, for
// research, teaching and cross-checks against other frameworks.
//
//   vgg_features --image chelsea.png --layers relu1_1,relu4_2 --out feats.safetensors
//                [--weights W] [--image-size 256] [--gpu -1|0] [--pooling max|avg] [--backend own|library]
//
// Each layer is stored as float32 [1,C,H,W] under its name; the metadata records the image, its size,
// the weights file and their input convention.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/dispatch.h"
#include "base/device.h"
#include "kernels/registry.h"
#include "layers/vgg19.h"
#include "media/image.h"
#include "weights/safetensors.h"

using namespace nst;

int main(int argc, char** argv) {
    CLI::App app{"Write VGG-19 activations of an image at named layers to a safetensors file"};
    std::string weights_path, image_path, layers_arg, out_path, pooling = "max", backend_name = "own";
    int image_size = 0, gpu = cuda_available() ? 0 : -1;
    app.add_option("--weights", weights_path, "VGG-19 weights (safetensors or .pth); default: $NST_WEIGHTS, "
                                              "weights/vgg19.safetensors, ../shared/weights/vgg19-conv.safetensors");
    app.add_option("--image", image_path, "input image (PNG, JPEG, ...)")->required();
    app.add_option("--image-size", image_size, "resize so the longest side has this many pixels (default: keep)");
    app.add_option("--layers", layers_arg, "comma-separated layer names, e.g. relu1_1,relu4_2")->required();
    app.add_option("--out", out_path, "output .safetensors file")->required();
    app.add_option("--gpu", gpu, "CUDA device index, or -1 for the CPU (default: 0 when a GPU is present)");
    app.add_option("--pooling", pooling, "max or avg");
    app.add_option("--backend", backend_name, "own (the project's kernels) or library (cuDNN/cuBLAS)");
    app.set_version_flag("--version", std::string("vgg_features ") + NST_VERSION + ", " +
                                          (nst::built_with_cuda() ? "with" : "without") + " CUDA");
    CLI11_PARSE(app, argc, argv);

    try {
        using clock = std::chrono::steady_clock;
        if (image_size < 0 || image_size > 16384) throw Error("--image-size " + std::to_string(image_size) + " is out of range (1..16384)");
        if (weights_path.empty()) weights_path = weights::find_default_weights();
        if (weights_path.empty())
            throw Error("--weights not given and none found (run scripts/get-weights.sh, or set NST_WEIGHTS)");
        set_backend(parse_backend(backend_name));
        const Pooling pool = parse_pooling(pooling);
        std::vector<std::string> layers;
        {
            std::stringstream ss(layers_arg);
            for (std::string l; std::getline(ss, l, ',');)
                if (!l.empty()) layers.push_back(l);
        }
        if (layers.empty()) throw Error("--layers: no layer names given");
        for (const auto& l : layers) VGG19::layer_index(l);  // clear error for a bad name before any work
        if (out_path.size() < 12 || out_path.substr(out_path.size() - 12) != ".safetensors")
            throw Error("--out " + out_path + ": the output must be a .safetensors file");

        Device device = Device::cpu();
        if (gpu >= 0) {
            set_cuda_device(gpu);
            device = Device::cuda(gpu);
        }
        const auto t0 = clock::now();
        const weights::Vgg19Weights w = weights::load_vgg19_weights(weights_path);
        Image img = load_image(image_path);
        if (image_size > 0) img = resize_longest(img, image_size);
        VGG19 net(w, device, layers, pool);
        const Tensor x = net.preprocess(image_to_tensor(img).to(device));
        const auto t1 = clock::now();
        std::vector<std::pair<std::string, Tensor>> feats;
        {
            NoGradGuard no_grad;
            feats = net.forward(x);
            cuda_synchronize();
        }
        const auto t2 = clock::now();

        weights::WeightFile out;
        for (const auto& [name, t] : feats) out.tensors[name] = {t.shape(), t.to_vector<float>()};
        out.metadata["image"] = image_path;
        out.metadata["image_size"] = std::to_string(img.width) + "x" + std::to_string(img.height);
        out.metadata["weights"] = weights_path;
        out.metadata["pooling"] = pooling;
        weights::convention_to_metadata(w.convention, out.metadata);
        weights::write_safetensors(out_path, out);

        const double load_s = std::chrono::duration<double>(t1 - t0).count();
        const double fwd_s = std::chrono::duration<double>(t2 - t1).count();
        std::printf("%s: %dx%d image through VGG-19 up to %s on %s in %.3f s (loading %.3f s)\n", out_path.c_str(),
                    img.width, img.height, net.layers().layers().back().first.c_str(), device.str().c_str(), fwd_s, load_s);
        std::printf("input convention: %s\n", w.convention.describe().c_str());
        for (const auto& [name, t] : feats) std::printf("  %-8s %s\n", name.c_str(), shape_str(t.shape()).c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vgg_features: error: %s\n", e.what());
        return 1;
    }
}
