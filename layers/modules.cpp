// Module implementations (contract in modules.h).
#include "layers/modules.h"

#include "core/dispatch.h"

#include <algorithm>

namespace nst {

Conv2d::Conv2d(Tensor weight, Tensor bias, int stride, int pad, bool relu)
    : weight_(std::move(weight)), bias_(std::move(bias)), stride_(stride), pad_(pad), relu_(relu) {
    check_defined(weight_, "Conv2d", "weight");
    check_ndim(weight_, 4, "Conv2d", "weight");
}

Tensor Conv2d::forward(const Tensor& x) const {
    const PreparedConvWeights* prep = nullptr;
    if (!weight_.requires_grad() && weight_.dtype() == DType::F32) {
        if (prepared_.kernel != &conv2d_kernels(weight_.device())) prepared_ = prepare_conv2d_weights(weight_, stride_, pad_);
        prep = &prepared_;
    }
    return relu_ ? conv2d_relu(x, weight_, bias_, stride_, pad_, prep) : conv2d(x, weight_, bias_, stride_, pad_, prep);
}

std::string Conv2d::describe() const {
    return "Conv2d(" + std::to_string(weight_.dim(1)) + " -> " + std::to_string(weight_.dim(0)) + ", " +
           std::to_string(weight_.dim(2)) + "x" + std::to_string(weight_.dim(3)) + ", stride " + std::to_string(stride_) +
           ", pad " + std::to_string(pad_) + ")" + (relu_ ? " + ReLU" : "");
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
}

void Module::zero_grad() const {
    for (Tensor t : parameters()) t.zero_grad();
}

void append_parameters(std::vector<std::pair<std::string, Tensor>>& out, const std::string& prefix, const Module& m) {
    for (auto& [name, t] : m.named_parameters()) out.emplace_back(prefix + "." + name, t);
}

std::vector<std::pair<std::string, Tensor>> Conv2d::named_parameters() const {
    std::vector<std::pair<std::string, Tensor>> out{{"weight", weight_}};
    if (bias_.defined()) out.emplace_back("bias", bias_);
    return out;
}

std::vector<std::pair<std::string, Tensor>> Sequential::named_parameters() const {
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [name, m] : layers_) append_parameters(out, name, *m);
    return out;
}

std::string MaxPool2d::describe() const {
    return "MaxPool2d(" + std::to_string(k_) + ", stride " + std::to_string(s_) + ", pad " + std::to_string(p_) + ")";
}
std::string AvgPool2d::describe() const {
    return "AvgPool2d(" + std::to_string(k_) + ", stride " + std::to_string(s_) + ", pad " + std::to_string(p_) + ")";
}

void Sequential::add(std::string name, std::unique_ptr<Module> m) { layers_.emplace_back(std::move(name), std::move(m)); }

Tensor Sequential::forward(const Tensor& x) const {
    Tensor h = x;
    for (const auto& [name, m] : layers_) h = m->forward(h);
    return h;
}

std::vector<std::pair<std::string, Tensor>> Sequential::forward_taps(const Tensor& x, const std::vector<std::string>& taps) const {
    std::vector<std::pair<std::string, Tensor>> out;
    size_t last = 0;
    for (const std::string& t : taps) {
        auto it = std::find_if(layers_.begin(), layers_.end(), [&](const auto& l) { return l.first == t; });
        if (it == layers_.end()) throw Error("Sequential: no layer named '" + t + "'");
        last = std::max(last, size_t(it - layers_.begin()) + 1);
    }
    Tensor h = x;
    for (size_t i = 0; i < last; ++i) {
        h = layers_[i].second->forward(h);
        if (std::find(taps.begin(), taps.end(), layers_[i].first) != taps.end()) out.emplace_back(layers_[i].first, h);
    }
    return out;
}

std::string Sequential::describe() const {
    std::string s = "Sequential(\n";
    for (const auto& [name, m] : layers_) s += "  " + name + ": " + m->describe() + "\n";
    return s + ")";
}

}  // namespace nst
