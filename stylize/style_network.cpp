// A feed-forward style network from any supported file (contract in style_network.h).
#include "stylize/style_network.h"

#include <algorithm>

#include "base/error.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "media/image.h"
#include "weights/onnx_model.h"
#include "weights/vgg19_weights.h"

namespace nst {

namespace {

// A second input of 1..4 dims, all 1 but the last: an arbitrary-style network's style vector.
bool is_style_vector(const weights::OnnxValueInfo& v) {
    if (v.type != weights::OnnxType::Float || v.dims.size() < 2 || v.dims.back() < 1) return false;
    return std::all_of(v.dims.begin(), v.dims.end() - 1, [](int64_t d) { return d == 1; });
}

std::shared_ptr<OnnxNet> load_onnx(const std::string& path, Device device, const std::string& label, std::string& style_input,
                                   int& styles, std::string& vector_input, std::vector<int64_t>& vector_dims) {
    auto net = std::make_shared<OnnxNet>(weights::read_onnx(path), device);
    for (const auto& in : net->model().inputs) {
        const bool first = in.dims.size() == 4 && (in.dims[1] == 3 || in.dims[1] == -1);
        const bool last = in.dims.size() == 4 && in.dims[3] == 3;
        if (in.name == net->image_input() && !first && !last)
            throw Error(label + ": input '" + in.name + "' is " + weights::shape_to_string(in.dims) +
                        ", not a picture (1,3,H,W) or (1,H,W,3)");
    }
    if (net->host_inputs().size() > 1) throw Error(label + ": the network wants " + std::to_string(net->host_inputs().size() + 1) +
                                                   " inputs; stylize gives a picture and, at most, style weights or a style vector");
    if (net->host_inputs().size() == 1) {
        const auto& v = net->host_inputs()[0];
        if (is_style_vector(v)) {
            vector_input = v.name;
            vector_dims = v.dims;
            return net;
        }
        if (v.type != weights::OnnxType::Float || v.dims.size() != 1 || v.dims[0] < 1)
            throw Error(label + ": input '" + v.name + "' is " + weights::onnx_type_name(v.type) + " " + weights::shape_to_string(v.dims) +
                        "; stylize takes a second input only as style weights (float, one per style) or a style vector (1,1,1,K)");
        style_input = v.name;
        styles = int(v.dims[0]);
    }
    return net;
}

}  // namespace

StyleNetwork StyleNetwork::load(const std::string& path, Device device, const std::string& flag) {
    const std::string label = flag + " " + path;
    StyleNetwork s;
    s.device_ = device;
    try {
        if (extension_of(path) == "onnx") {
            s.onnx_ = load_onnx(path, device, label, s.style_input_, s.styles_, s.vector_input_, s.vector_dims_);
            s.multiple_ = std::max(1, s.onnx_->multiple());
        } else {
            s.torch_ = std::make_shared<TransformerNet>(TransformerNet::from_weights(weights::read_any_weights(path), device, label));
            s.styles_ = s.torch_->styles();
            s.multiple_ = 4;  // two stride-2 convs, undone by two x2 upsamplings
        }
    } catch (const Error& e) {
        const std::string what = e.what();
        if (what.rfind(flag, 0) == 0) throw;
        if (what.rfind(path + ": ", 0) == 0) throw Error(flag + " " + what);  // the reader named the file already
        throw Error(label + ": " + what);
    }
    return s;
}

StyleNetwork StyleNetwork::from_transformer(TransformerNet net, Device device) {
    StyleNetwork s;
    s.device_ = device;
    s.torch_ = std::make_shared<TransformerNet>(std::move(net));
    s.styles_ = s.torch_->styles();
    s.multiple_ = 4;
    return s;
}

void StyleNetwork::set_style_mix(const std::vector<float>& weights) {
    if (int(weights.size()) != styles_) throw Error("style mix of " + std::to_string(weights.size()) + " weights for " + std::to_string(styles_) + " styles");
    mix_ = weights;
    if (torch_) torch_->set_style_mix(Tensor::from_vector(weights, {int64_t(weights.size())}));
}

void StyleNetwork::set_style_vector(const OnnxTensor& v) {
    if (vector_input_.empty()) throw Error("the network takes no style vector");
    int64_t want = 1;
    for (int64_t d : vector_dims_) want *= d;
    if (!v.floating() || v.numel() != want)
        throw Error("a style vector of " + std::to_string(v.numel()) + " values for input '" + vector_input_ + "' " +
                    weights::shape_to_string(vector_dims_));
    vector_ = v;
    vector_.shape = vector_dims_;
}

std::string StyleNetwork::describe() const {
    return onnx_ ? onnx_->describe() : torch_->describe().substr(0, torch_->describe().find(' '));
}

Tensor StyleNetwork::apply(const Tensor& x) const {
    if (styles_ > 0 && mix_.empty()) throw Error("a multi-style network needs its style mix (--style-mix)");
    const int64_t H = x.dim(2), W = x.dim(3), m = multiple_;
    const int pad_h = int((m - H % m) % m), pad_w = int((m - W % m) % m);
    if (pad_h >= H || pad_w >= W)
        throw Error("the picture (" + std::to_string(W) + "x" + std::to_string(H) + ") is too small for the network (at least " +
                    std::to_string(m) + "x" + std::to_string(m) + ")");
    Tensor in = x;
    if (pad_h || pad_w) in = reflection_pad2d(in, 0, pad_h, 0, pad_w);
    Tensor y = forward_padded(in);
    if (pad_h || pad_w) y = crop2d(y, 0, 0, H, W);
    return y;  // tensor_to_image clamps to 0..1
}

std::map<std::string, OnnxTensor> StyleNetwork::host_inputs() const {
    std::map<std::string, OnnxTensor> extra;
    if (!style_input_.empty()) {
        OnnxTensor w;
        w.f = mix_;
        w.shape = {int64_t(mix_.size())};
        extra[style_input_] = w;
    }
    if (!vector_input_.empty()) {
        if (vector_.f.empty()) throw Error("an arbitrary-style network needs a style picture (--style-image)");
        extra[vector_input_] = vector_;
    }
    return extra;
}

double StyleNetwork::edge_reach() const {
    if (reach_ >= 0) return reach_;
    if (torch_) {
        // pytorch/examples' TransformerNet, followed from a tile edge that is not the picture's, layer by layer
        // (tiles aligned to 4, so the strided grids are the picture's): conv 9x9 -> 4 px; conv 3x3/2 (output j
        // reads 2j-1..2j+1) -> 3 at 1/2 = 6; conv 3x3/2 -> 2 at 1/4 = 8; the residual blocks' ten 3x3 convs ->
        // 12 at 1/4 = 48; x2 and conv 3x3 -> 25 at 1/2 = 50; x2 and conv 3x3 -> 51; conv 9x9 -> 55. Instance norm
        // with given statistics, ReLU and the residual adds reach no further. (The tiling test fails at 52.)
        reach_ = 55;
    } else {
        if (styles_ > 0 && mix_.empty()) throw Error("a multi-style network needs its style mix (--style-mix)");
        const int64_t probe = (std::max<int64_t>(64, 8 * multiple_) + multiple_ - 1) / multiple_ * multiple_;
        NoGradGuard no_grad;
        reach_ = onnx_->edge_reach(Tensor::zeros({1, 3, probe, probe}, DType::F32, device_), host_inputs());
    }
    return reach_;
}

Tensor StyleNetwork::forward_padded(const Tensor& x) const {
    if (styles_ > 0 && mix_.empty()) throw Error("a multi-style network needs its style mix (--style-mix)");
    const Tensor in = torch_ ? scale(x, 255.0) : x;
    const Tensor y = torch_ ? torch_->forward(in) : onnx_->forward(in, host_inputs());
    if (y.ndim() != 4 || y.dim(1) != 3 || y.dim(2) != in.dim(2) || y.dim(3) != in.dim(3))
        throw Error("the network made " + shape_str(y.shape()) + " from " + shape_str(in.shape()) + ": not a picture of the same size");
    return torch_ ? scale(y, 1.0 / 255.0) : y;
}

}  // namespace nst
