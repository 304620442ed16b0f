// VGG-19 weight loading and key normalisation (contract in vgg19_weights.h).
#include "weights/vgg19_weights.h"

#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <unistd.h>
#include <cctype>

#include "base/error.h"
#include "weights/safetensors.h"
#include "weights/torch_checkpoint.h"

namespace nst::weights {

const std::array<VggConv, 16> kVgg19Convs{{
    {"conv1_1", 0},  {"conv1_2", 2},  {"conv2_1", 5},  {"conv2_2", 7},  {"conv3_1", 10}, {"conv3_2", 12},
    {"conv3_3", 14}, {"conv3_4", 16}, {"conv4_1", 19}, {"conv4_2", 21}, {"conv4_3", 23}, {"conv4_4", 25},
    {"conv5_1", 28}, {"conv5_2", 30}, {"conv5_3", 32}, {"conv5_4", 34},
}};

WeightFile read_any_weights(const std::string& path) {
    const std::string bytes = read_file_bytes(path);
    if (bytes.empty()) throw Error(path + ": the file is empty");
    if (looks_like_safetensors(bytes)) return parse_safetensors(bytes, path);
    if (bytes.size() >= 4 && (bytes.compare(0, 4, "PK\x03\x04") == 0 || uint8_t(bytes[0]) == 0x80))
        return parse_torch_checkpoint(bytes, path);
    throw Error(path + ": unknown weight file format (expected safetensors or a PyTorch .pth checkpoint)");
}

namespace {

// The torchvision index of a key's layer, and whether it is the weight or the bias: -1 if the key is
// not a conv parameter at all (classifier, ...), -2 if it looks like one but VGG-19 has no such conv.
// Accepts [module.]features.N.{weight,bias} and [module.]convX_Y.{weight,bias}.
int conv_index(std::string key, bool& is_weight) {
    if (key.rfind("module.", 0) == 0) key = key.substr(7);
    auto strip_suffix = [&](const char* suffix) {
        const std::string sfx = suffix;
        if (key.size() > sfx.size() && key.compare(key.size() - sfx.size(), sfx.size(), sfx) == 0) {
            key.resize(key.size() - sfx.size());
            return true;
        }
        return false;
    };
    if (strip_suffix(".weight"))
        is_weight = true;
    else if (strip_suffix(".bias"))
        is_weight = false;
    else
        return -1;
    auto all_digits = [](const std::string& d) {
        return !d.empty() && d.size() < 4 && d.find_first_not_of("0123456789") == std::string::npos;
    };
    if (key.rfind("features.", 0) == 0 && all_digits(key.substr(9))) {
        const int idx = std::stoi(key.substr(9));
        for (const VggConv& c : kVgg19Convs)
            if (c.index == idx) return idx;
        return -2;
    }
    if (key.size() == 7 && key.rfind("conv", 0) == 0 && key[5] == '_' && std::isdigit((unsigned char)key[4]) &&
        std::isdigit((unsigned char)key[6])) {
        for (const VggConv& c : kVgg19Convs)
            if (key == c.name) return c.index;
        return -2;
    }
    return -1;
}

}  // namespace

Vgg19Weights vgg19_weights_from(WeightFile any, const std::string& name) {
    Vgg19Weights out;
    out.convention = convention_from_metadata(any.metadata, name);
    out.file.metadata = any.metadata;
    for (auto& [key, t] : any.tensors) {
        bool is_weight = false;
        const int idx = conv_index(key, is_weight);
        if (idx == -1) continue;  // classifier, optimizer state, ...
        if (idx == -2) throw Error(name + ": '" + key + "' is not a layer of VGG-19 (is this a VGG-19 file?)");
        const std::string canonical = "features." + std::to_string(idx) + (is_weight ? ".weight" : ".bias");
        if (out.file.tensors.count(canonical))
            throw Error(name + ": two keys name the same layer parameter " + canonical + " (second: '" + key + "')");
        for (float v : t.values)
            if (!std::isfinite(v)) throw Error(name + ": '" + key + "' contains NaN or Inf values");
        out.file.tensors[canonical] = std::move(t);
    }
    // Layers must run conv1_1, conv1_2, ... without a gap, each with a 3x3 kernel chaining channels.
    int64_t channels = 3;
    for (const VggConv& c : kVgg19Convs) {
        const std::string w = "features." + std::to_string(c.index) + ".weight";
        const std::string b = "features." + std::to_string(c.index) + ".bias";
        const bool has_w = out.file.tensors.count(w), has_b = out.file.tensors.count(b);
        if (!has_w && !has_b) break;
        if (!has_w || !has_b) throw Error(name + ": " + c.name + " has a " + (has_w ? "weight but no bias" : "bias but no weight"));
        const auto& ws = out.file.tensors[w].shape;
        const auto& bs = out.file.tensors[b].shape;
        if (ws.size() != 4 || ws[1] != channels || ws[2] != 3 || ws[3] != 3 || ws[0] < 1)
            throw Error(name + ": " + c.name + " weight has shape " + shape_to_string(ws) + ", expected [K," +
                        std::to_string(channels) + ",3,3]");
        if (bs.size() != 1 || bs[0] != ws[0])
            throw Error(name + ": " + c.name + " bias has shape " + shape_to_string(bs) + ", expected [" + std::to_string(ws[0]) + "]");
        channels = ws[0];
        ++out.layers;
    }
    if (out.layers == 0) throw Error(name + ": no VGG-19 convolution weights found (looked for features.N.* and convX_Y.*)");
    const size_t expected = size_t(2 * out.layers);
    if (out.file.tensors.size() != expected) {
        const VggConv& missing = kVgg19Convs[size_t(out.layers)];
        throw Error(name + ": layer " + missing.name + " is missing but deeper layers are present");
    }
    return out;
}

std::string find_default_weights() {
    if (const char* env = std::getenv("NST_WEIGHTS"); env && *env) return env;  // used as given, even if missing
    std::vector<std::string> roots{"."};
    // Also beside the program's checkout (build/stylize -> ..), so it works from any folder.
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        std::string dir(exe, size_t(n));
        for (int up = 0; up < 2 && dir.find('/') != std::string::npos; ++up) {
            dir = dir.substr(0, dir.find_last_of('/'));
            roots.push_back(dir.empty() ? "/" : dir);
        }
    }
    for (const std::string& root : roots)
        for (const char* p : {"weights/vgg19.safetensors", "../shared/weights/vgg19-conv.safetensors"}) {
            const std::string path = root == "." ? std::string(p) : root + "/" + p;
            if (std::ifstream(path).good()) return path;
        }
    return "";
}

Vgg19Weights load_vgg19_weights(const std::string& path) { return vgg19_weights_from(read_any_weights(path), path); }

}  // namespace nst::weights
