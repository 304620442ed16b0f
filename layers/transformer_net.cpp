// TransformerNet and its layers (contract in transformer_net.h).
#include "layers/transformer_net.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace nst {

namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;

// pytorch/examples' ResidualBlock: x + in2(conv2(ReLU(in1(conv1(x))))).
class ResidualBlock : public Module {
  public:
    ResidualBlock(std::unique_ptr<Module> conv1, std::unique_ptr<Module> in1, std::unique_ptr<Module> conv2,
                  std::unique_ptr<Module> in2)
        : conv1_(std::move(conv1)), in1_(std::move(in1)), conv2_(std::move(conv2)), in2_(std::move(in2)) {}
    Tensor forward(const Tensor& x) const override {
        return add(x, in2_->forward(conv2_->forward(relu(in1_->forward(conv1_->forward(x))))));
    }
    std::string describe() const override { return "ResidualBlock(" + conv1_->describe() + ")"; }
    Named named_parameters() const override {
        Named out;
        append_parameters(out, "conv1", *conv1_);
        append_parameters(out, "in1", *in1_);
        append_parameters(out, "conv2", *conv2_);
        append_parameters(out, "in2", *in2_);
        return out;
    }

  private:
    std::unique_ptr<Module> conv1_, in1_, conv2_, in2_;
};

// One parameter the network expects: its name and shape.
struct Spec {
    std::string name;
    Shape shape;
};

// Every parameter of a network of these widths, in pytorch/examples' order.
std::vector<Spec> expected(int64_t w1, int64_t w2, int64_t w3, int styles) {
    std::vector<Spec> s;
    const auto conv = [&](const std::string& p, int64_t out, int64_t in, int64_t k) {
        s.push_back({p + ".conv2d.weight", {out, in, k, k}});
        s.push_back({p + ".conv2d.bias", {out}});
    };
    const auto norm = [&](const std::string& p, int64_t c) {
        const Shape shape = styles > 0 ? Shape{styles, c} : Shape{c};
        s.push_back({p + ".weight", shape});
        s.push_back({p + ".bias", shape});
    };
    conv("conv1", w1, 3, 9), norm("in1", w1);
    conv("conv2", w2, w1, 3), norm("in2", w2);
    conv("conv3", w3, w2, 3), norm("in3", w3);
    for (int i = 1; i <= 5; ++i) {
        const std::string r = "res" + std::to_string(i);
        conv(r + ".conv1", w3, w3, 3), norm(r + ".in1", w3);
        conv(r + ".conv2", w3, w3, 3), norm(r + ".in2", w3);
    }
    conv("deconv1", w2, w3, 3), norm("in4", w2);
    conv("deconv2", w1, w2, 3), norm("in5", w1);
    conv("deconv3", 3, w1, 9);
    return s;
}

// Keys old pytorch/examples files carry that no forward reads (InstanceNorm2d's running statistics).
bool ignored_key(const std::string& k) {
    const auto ends = [&](const std::string& suffix) {
        return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return ends(".running_mean") || ends(".running_var") || ends(".num_batches_tracked");
}

Tensor to_tensor(const weights::HostTensor& h, Device device) { return Tensor::from_vector(h.values, h.shape).to(device); }

}  // namespace

Tensor ConditionalInstanceNorm2d::forward(const Tensor& x) const {
    if (!mix_ || !mix_->defined())
        throw Error("ConditionalInstanceNorm2d: no style weights set (TransformerNet::set_style_mix)");
    return conditional_instance_norm(x, weight_, bias_, *mix_);
}

std::string ConditionalInstanceNorm2d::describe() const {
    return "ConditionalInstanceNorm2d(" + std::to_string(weight_.dim(0)) + " styles, " + std::to_string(weight_.dim(1)) + ")";
}

ConvLayer::ConvLayer(Tensor weight, Tensor bias, int stride, int upsample)
    : conv2d_(std::move(weight), std::move(bias), stride, 0), pad_(0), upsample_(upsample) {
    pad_ = int(conv2d_.weight().dim(2) / 2);
}

Tensor ConvLayer::forward(const Tensor& x) const {
    const Tensor in = upsample_ > 1 ? upsample_nearest2d(x, upsample_) : x;
    return conv2d_.forward(pad_ > 0 ? reflection_pad2d(in, pad_, pad_, pad_, pad_) : in);
}

std::string ConvLayer::describe() const {
    return (upsample_ > 1 ? "Upsample x" + std::to_string(upsample_) + ", " : std::string()) + "ReflectionPad " +
           std::to_string(pad_) + ", " + conv2d_.describe();
}

Named ConvLayer::named_parameters() const {
    Named out;
    append_parameters(out, "conv2d", conv2d_);
    return out;
}

void TransformerNet::build(const Named& params, int styles, Device device) {
    styles_ = styles;
    device_ = device;
    mix_ = std::make_shared<Tensor>();
    std::map<std::string, Tensor> p(params.begin(), params.end());
    const auto conv = [&](const std::string& name, int stride, int upsample = 1) {
        return std::make_unique<ConvLayer>(p.at(name + ".conv2d.weight"), p.at(name + ".conv2d.bias"), stride, upsample);
    };
    const auto norm = [&](const std::string& name) -> std::unique_ptr<Module> {
        if (styles > 0) return std::make_unique<ConditionalInstanceNorm2d>(p.at(name + ".weight"), p.at(name + ".bias"), mix_);
        return std::make_unique<InstanceNorm2d>(p.at(name + ".weight"), p.at(name + ".bias"));
    };
    net_.add("conv1", conv("conv1", 1)), net_.add("in1", norm("in1")), net_.add("relu1", std::make_unique<ReLU>());
    net_.add("conv2", conv("conv2", 2)), net_.add("in2", norm("in2")), net_.add("relu2", std::make_unique<ReLU>());
    net_.add("conv3", conv("conv3", 2)), net_.add("in3", norm("in3")), net_.add("relu3", std::make_unique<ReLU>());
    for (int i = 1; i <= 5; ++i) {
        const std::string r = "res" + std::to_string(i);
        net_.add(r, std::make_unique<ResidualBlock>(conv(r + ".conv1", 1), norm(r + ".in1"), conv(r + ".conv2", 1),
                                                    norm(r + ".in2")));
    }
    net_.add("deconv1", conv("deconv1", 1, 2)), net_.add("in4", norm("in4")), net_.add("relu4", std::make_unique<ReLU>());
    net_.add("deconv2", conv("deconv2", 1, 2)), net_.add("in5", norm("in5")), net_.add("relu5", std::make_unique<ReLU>());
    net_.add("deconv3", conv("deconv3", 1));
}

TransformerNet TransformerNet::from_weights(const weights::WeightFile& file, Device device, const std::string& source) {
    const auto need = [&](const std::string& key) -> const weights::HostTensor& {
        const auto it = file.tensors.find(key);
        if (it == file.tensors.end())
            throw Error(source + ": not a TransformerNet (pytorch/examples' fast_neural_style): no '" + key + "'");
        return it->second;
    };
    const auto& c1 = need("conv1.conv2d.weight");
    const auto& c2 = need("conv2.conv2d.weight");
    const auto& c3 = need("conv3.conv2d.weight");
    const auto& n1 = need("in1.weight");
    if (c1.shape.size() != 4 || c2.shape.size() != 4 || c3.shape.size() != 4 || n1.shape.empty() || n1.shape.size() > 2)
        throw Error(source + ": not a TransformerNet: conv1..3 weights must be 4-D and in1.weight 1-D or 2-D, got " +
                    weights::shape_to_string(c1.shape) + ", " + weights::shape_to_string(n1.shape));
    const int styles = n1.shape.size() == 2 ? int(n1.shape[0]) : 0;
    if (n1.shape.size() == 2 && styles < 1) throw Error(source + ": in1.weight has no style rows");
    const std::vector<Spec> specs = expected(c1.shape[0], c2.shape[0], c3.shape[0], styles);
    Named params;
    for (const Spec& s : specs) {
        const auto& h = need(s.name);
        if (Shape(h.shape.begin(), h.shape.end()) != s.shape)
            throw Error(source + ": '" + s.name + "' has shape " + weights::shape_to_string(h.shape) + ", but a TransformerNet of widths " +
                        std::to_string(c1.shape[0]) + ", " + std::to_string(c2.shape[0]) + ", " + std::to_string(c3.shape[0]) +
                        " needs " + shape_str(s.shape));
        params.emplace_back(s.name, to_tensor(h, device));
    }
    for (const auto& [key, t] : file.tensors) {
        const bool known = std::any_of(specs.begin(), specs.end(), [&](const Spec& s) { return s.name == key; });
        if (!known && !ignored_key(key))
            throw Error(source + ": unexpected key '" + key + "' for a TransformerNet (pytorch/examples' key names)");
    }
    TransformerNet net;
    net.build(params, styles, device);
    return net;
}

TransformerNet TransformerNet::random(uint64_t seed, int styles, Device device, std::vector<int64_t> widths, DType dtype) {
    if (widths.size() != 3 || styles < 0) throw Error("TransformerNet::random: three widths and styles >= 0");
    Named params;
    uint64_t k = seed;
    for (const Spec& s : expected(widths[0], widths[1], widths[2], styles)) {
        Tensor t;
        const bool norm = s.name.find(".conv2d.") == std::string::npos;
        if (norm) {
            t = Tensor::full(s.shape, s.name.size() >= 7 && s.name.compare(s.name.size() - 7, 7, ".weight") == 0 ? 1.0 : 0.0);
        } else {
            // PyTorch's Conv2d init: kaiming_uniform(a=√5) for the weight and ±1/√fan_in for the bias,
            // both within ±1/√fan_in.
            const std::string wname = s.name.substr(0, s.name.rfind('.')) + ".weight";
            int64_t fan_in = 1;
            for (const Spec& o : expected(widths[0], widths[1], widths[2], styles))
                if (o.name == wname) fan_in = o.shape[1] * o.shape[2] * o.shape[3];
            const double bound = 1.0 / std::sqrt(double(fan_in));
            t = Tensor::uniform(s.shape, -bound, bound, ++k);
        }
        params.emplace_back(s.name, (dtype == DType::F32 ? t : t.to(dtype)).to(device));
    }
    TransformerNet net;
    net.build(params, styles, device);
    return net;
}

void TransformerNet::set_style_mix(const Tensor& alpha) {
    if (styles_ == 0) throw Error("TransformerNet: set_style_mix on a network with one style (plain instance norm)");
    check_defined(alpha, "set_style_mix", "alpha");
    const bool ok = (alpha.ndim() == 1 && alpha.dim(0) == styles_) || (alpha.ndim() == 2 && alpha.dim(1) == styles_);
    if (!ok)
        throw Error("TransformerNet: style weights " + alpha.str() + " must be (" + std::to_string(styles_) + ") or (N, " +
                    std::to_string(styles_) + ") for this network of " + std::to_string(styles_) + " styles");
    alpha_ = alpha.detach().to(device_);
    if (alpha_.dtype() != DType::F32) alpha_ = alpha_.cpu().to(DType::F32).to(device_);
}

Tensor TransformerNet::forward(const Tensor& x) const {
    check_defined(x, "TransformerNet", "x");
    check_ndim(x, 4, "TransformerNet", "x");
    if (x.dim(1) != 3) throw Error("TransformerNet: input must have 3 channels (RGB), got " + x.str());
    if (styles_ > 0) {
        if (!alpha_.defined()) throw Error("TransformerNet: a network of " + std::to_string(styles_) + " styles needs set_style_mix first");
        if (alpha_.ndim() == 2 && alpha_.dim(0) == x.dim(0)) {
            *mix_ = alpha_;
        } else {  // one mix for every sample: its row repeated
            if (alpha_.ndim() == 2 && alpha_.dim(0) != 1)
                throw Error("TransformerNet: style weights " + alpha_.str() + " for a batch of " + std::to_string(x.dim(0)));
            const std::vector<float> row = alpha_.cpu().to_vector<float>();
            std::vector<float> rows;
            for (int64_t n = 0; n < x.dim(0); ++n) rows.insert(rows.end(), row.begin(), row.end());
            *mix_ = Tensor::from_vector(rows, {x.dim(0), int64_t(styles_)}).to(device_);
        }
    }
    return net_.forward(x);
}

std::string TransformerNet::describe() const {
    return std::string("TransformerNet") + (styles_ > 0 ? " (" + std::to_string(styles_) + " styles)" : "") + " " +
           net_.describe();
}

Named TransformerNet::named_parameters() const { return net_.named_parameters(); }

weights::WeightFile TransformerNet::state_dict() const {
    weights::WeightFile f;
    for (const auto& [name, t] : named_parameters()) {
        const Shape& s = t.shape();
        f.tensors[name] = {std::vector<int64_t>(s.begin(), s.end()), t.cpu().to_vector<float>(), "F32"};
    }
    return f;
}

}  // namespace nst
