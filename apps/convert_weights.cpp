// convert_weights: any supported VGG-19 weight file -> the project's format: safetensors, conv layers
// only, torchvision key names, the input convention in the metadata, the source's other metadata kept,
// and the source's dtype (F16 stays F16, as exact as it was) unless --dtype says otherwise.
//
//   convert_weights IN OUT.safetensors [--channel-order RGB|BGR] [--input-scale 1|255]
//                   [--mean a,b,c] [--std a,b,c] [--dtype keep|f32|f16|bf16]
//
// The convention is the source file's when it states one, else torchvision's; flags override it (say
// so for Caffe-derived files: --channel-order BGR --input-scale 255 --mean 103.939,116.779,123.68).
#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdio>

#include "base/error.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

using namespace nst;

int main(int argc, char** argv) {
    CLI::App app{"Convert VGG-19 weights (safetensors, PyTorch .pth) to the project's safetensors format"};
    std::string in, out, order, scale, mean, stdev, dtype = "keep";
    app.add_option("IN", in, "source weights: safetensors, or a PyTorch checkpoint (zip or legacy .pth)")->required();
    app.add_option("OUT", out, "destination .safetensors file")->required();
    app.add_option("--channel-order", order, "RGB or BGR: the channel order the network expects");
    app.add_option("--input-scale", scale, "1 or 255: the pixel scale the network expects");
    app.add_option("--mean", mean, "three comma-separated channel means, in the network's channel order and scale");
    app.add_option("--std", stdev, "three comma-separated channel standard deviations");
    app.add_option("--dtype", dtype, "keep (the source's, default), f32, f16 or bf16");
    CLI11_PARSE(app, argc, argv);
    try {
        if (out.size() < 12 || out.substr(out.size() - 12) != ".safetensors")
            throw nst::Error("OUT " + out + ": the output must be a .safetensors file");
        weights::Vgg19Weights w = weights::load_vgg19_weights(in);
        weights::InputConvention c = w.convention;
        const bool flags = !order.empty() || !scale.empty() || !mean.empty() || !stdev.empty();
        if (!order.empty()) {
            if (order != "RGB" && order != "BGR") throw nst::Error("--channel-order must be RGB or BGR, not '" + order + "'");
            c.bgr = order == "BGR";
        }
        if (!scale.empty()) {
            c.scale = weights::parse_positive(scale, "--input-scale");
            if (c.scale != 1 && c.scale != 255)
                throw nst::Error("--input-scale must be 1 (pixels 0..1) or 255 (pixels 0..255), not '" + scale + "'");
        }
        std::string as;  // the dtype to write, empty: keep each tensor's
        if (dtype == "f32" || dtype == "f16" || dtype == "bf16")
            for (char ch : dtype) as += char(std::toupper(static_cast<unsigned char>(ch)));
        else if (dtype != "keep")
            throw nst::Error("--dtype must be keep, f32, f16 or bf16, not '" + dtype + "'");
        if (!mean.empty()) c.mean = weights::parse_triple(mean, "--mean");
        if (!stdev.empty()) {
            c.std = weights::parse_triple(stdev, "--std");
            for (double s : c.std)
                if (s <= 0) throw nst::Error("--std values must be positive");
        }
        c.stated = true;
        weights::WeightFile f;
        f.tensors = std::move(w.file.tensors);
        std::string written;
        for (auto& [name, t] : f.tensors) {
            if (!as.empty()) t.dtype = as;
            if (written.find(t.dtype) == std::string::npos) written += (written.empty() ? "" : ", ") + t.dtype;
        }
        f.metadata = w.file.metadata;  // the source's origin and notes; the convention and format below are ours
        weights::convention_to_metadata(c, f.metadata);
        f.metadata["format"] = "pt";
        f.metadata["model"] = "vgg19";
        f.metadata["converted_from"] = in;
        weights::write_safetensors(out, f);
        std::printf("%s: %d conv layers (conv1_1..%s), %s%s\n", out.c_str(), w.layers,
                    weights::kVgg19Convs[size_t(w.layers - 1)].name, written.c_str(),
                    as.empty() ? " (as in the source)" : " (from --dtype)");
        std::printf("input convention: %s%s\n", c.describe().c_str(),
                    flags ? " (from the flags)" : w.convention.stated ? " (from the source file)" : " (torchvision default: the source states none)");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "convert_weights: error: %s\n", e.what());
        return 1;
    }
}
