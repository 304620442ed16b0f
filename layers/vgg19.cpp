// VGG-19 assembly (contract in vgg19.h).
#include "layers/vgg19.h"

#include <cstdint>
#include <cstdlib>
#include <algorithm>

#include "core/autograd.h"

namespace nst {

namespace {
bool& fuse_flag() {
    static bool on = [] {
        const char* v = std::getenv("NST_FUSE_RELU");
        return !(v && std::string(v) == "0");
    }();
    return on;
}
}  // namespace
bool vgg_fuse_relu() { return fuse_flag(); }
void set_vgg_fuse_relu(bool on) { fuse_flag() = on; }

Pooling parse_pooling(const std::string& s) {
    if (s == "max") return Pooling::Max;
    if (s == "avg") return Pooling::Avg;
    throw Error("pooling must be 'max' or 'avg', not '" + s + "'");
}

const std::vector<std::string>& VGG19::layer_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        const int convs[] = {2, 2, 4, 4, 4};
        for (int b = 1; b <= 5; ++b) {
            for (int j = 1; j <= convs[b - 1]; ++j) {
                n.push_back("conv" + std::to_string(b) + "_" + std::to_string(j));
                n.push_back("relu" + std::to_string(b) + "_" + std::to_string(j));
            }
            n.push_back("pool" + std::to_string(b));
        }
        return n;
    }();
    return names;
}

size_t VGG19::layer_index(const std::string& name) {
    const auto& n = layer_names();
    auto it = std::find(n.begin(), n.end(), name);
    if (it == n.end()) {
        std::string all;
        for (const auto& s : n) all += (all.empty() ? "" : ",") + s;
        throw Error("unknown VGG-19 layer '" + name + "' (layers: " + all + ")");
    }
    return size_t(it - n.begin());
}

VGG19::VGG19(const weights::Vgg19Weights& w, Device device, const std::vector<std::string>& taps, Pooling pooling)
    : convention_(w.convention), device_(device), taps_(taps) {
    if (taps.empty()) throw Error("VGG19: no layers asked for");
    size_t deepest = 0;
    std::string deepest_name;
    for (const auto& t : taps)
        if (layer_index(t) >= deepest) deepest = layer_index(t), deepest_name = t;
    const auto& names = layer_names();
    const bool fuse = vgg_fuse_relu();
    int conv = 0;
    std::string fused_into;  // the conv whose epilogue applies the next layer's ReLU, if any
    for (size_t i = 0; i <= deepest; ++i) {
        const std::string& n = names[i];
        if (n.rfind("conv", 0) == 0) {
            if (conv >= w.layers)
                throw Error("the weights hold " + std::to_string(w.layers) + " conv layers (up to " +
                            weights::kVgg19Convs[size_t(w.layers - 1)].name + "), but layer '" + deepest_name +
                            "' needs " + n);
            const std::string key = "features." + std::to_string(weights::kVgg19Convs[size_t(conv)].index);
            const weights::HostTensor& wt = w.file.tensors.at(key + ".weight");
            const weights::HostTensor& bt = w.file.tensors.at(key + ".bias");
            // Uploaded once; requires_grad stays false, so these are frozen leaves.
            Tensor weight = Tensor::from_vector(wt.values, wt.shape).to(device);
            Tensor bias = Tensor::from_vector(bt.values, bt.shape).to(device);
            // Its ReLU in the conv's epilogue unless the conv's own output is a tap (it must stay unrectified).
            const bool relu = fuse && i < deepest && std::find(taps.begin(), taps.end(), n) == taps.end();
            net_.add(n, std::make_unique<Conv2d>(weight, bias, 1, 1, relu));
            fused_into = relu ? n : "";
            ++conv;
        } else if (n.rfind("relu", 0) == 0) {
            if (fused_into.empty()) net_.add(n, std::make_unique<ReLU>());
            else net_.add(n, std::make_unique<FusedReLU>(fused_into));
            fused_into.clear();
        } else if (pooling == Pooling::Max) {
            net_.add(n, std::make_unique<MaxPool2d>(2, 2));
        } else {
            net_.add(n, std::make_unique<AvgPool2d>(2, 2));
        }
    }
}

std::vector<std::pair<std::string, Tensor>> VGG19::forward(const Tensor& x) const {
    check_defined(x, "VGG19", "x");
    check_ndim(x, 4, "VGG19", "x");
    if (x.dim(1) != 3) throw Error("VGG19: input must have 3 channels, got " + x.str());
    if (x.device() != device_) throw Error("VGG19: input on " + x.device().str() + " but the network is on " + device_.str());
    const int64_t need = int64_t(1) << std::count_if(net_.layers().begin(), net_.layers().end(),
                                                     [](const auto& l) { return l.first.rfind("pool", 0) == 0; });
    if (x.dim(2) < need || x.dim(3) < need)
        throw Error("VGG19: input " + x.str() + " is too small for the layers asked for (needs at least " +
                    std::to_string(need) + "x" + std::to_string(need) + ")");
    return net_.forward_taps(x, taps_);
}

namespace {
// Per-channel affine map y[c] = a[c] * x[src(c)] + b[c], on the CPU (images are small next to the
// network), then back to the input's device.
Tensor channel_affine(const Tensor& x, const std::array<double, 3>& a, const std::array<double, 3>& b, bool swap) {
    check_defined(x, "preprocess", "image");
    check_ndim(x, 4, "preprocess", "image");
    if (x.dim(1) != 3 || x.dtype() != DType::F32) throw Error("preprocess: needs a float32 (N,3,H,W) image, got " + x.str());
    const Tensor h = x.cpu();
    Tensor y = Tensor::empty(h.shape());
    const int64_t plane = h.dim(2) * h.dim(3);
    for (int64_t n = 0; n < h.dim(0); ++n)
        for (int c = 0; c < 3; ++c) {
            const float* src = h.data<float>() + (n * 3 + (swap ? 2 - c : c)) * plane;
            float* dst = y.data<float>() + (n * 3 + c) * plane;
            for (int64_t i = 0; i < plane; ++i) dst[i] = float(a[size_t(c)] * src[i] + b[size_t(c)]);
        }
    return y.to(x.device());
}
}  // namespace

Tensor VGG19::preprocess(const Tensor& rgb) const {
    // x[c] = (rgb[order(c)] * scale - mean[c]) / std[c]
    const auto& cv = convention_;
    std::array<double, 3> a{}, b{};
    for (size_t c = 0; c < 3; ++c) {
        a[c] = cv.scale / cv.std[c];
        b[c] = -cv.mean[c] / cv.std[c];
    }
    return channel_affine(rgb, a, b, cv.bgr);
}

Tensor VGG19::deprocess(const Tensor& x) const {
    // rgb[order(c)] = (x[c] * std[c] + mean[c]) / scale; the channel swap is its own inverse.
    const auto& cv = convention_;
    std::array<double, 3> a{}, b{};
    for (size_t c = 0; c < 3; ++c) {
        const size_t src = cv.bgr ? 2 - c : c;  // output channel c (RGB) comes from network channel src
        a[c] = cv.std[src] / cv.scale;
        b[c] = cv.mean[src] / cv.scale;
    }
    return channel_affine(x, a, b, cv.bgr);
}

}  // namespace nst
