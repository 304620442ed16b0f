// An ONNX graph on the framework's ops (contract in onnx_net.h).
#include "layers/onnx_net.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <unordered_map>

#include "base/device.h"
#include "base/error.h"
#include "core/ops.h"
#include "weights/weight_file.h"

namespace nst {

using weights::OnnxModel;
using weights::OnnxNode;
using weights::OnnxType;
using weights::shape_to_string;

namespace {

constexpr int64_t kMaxFoldedElements = int64_t(1) << 27;

[[noreturn]] void fail(const OnnxModel& m, const OnnxNode& n, const std::string& why) {
    throw Error(m.file + ": " + n.label() + ": " + why);
}

bool spatial_axes(std::vector<int64_t> axes) {
    for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
    std::sort(axes.begin(), axes.end());
    return axes == std::vector<int64_t>{2, 3};
}

Tensor device_tensor(const OnnxTensor& t, const Shape& shape, Device d) {
    return Tensor::from_vector(t.f, shape).to(d);
}

}  // namespace

OnnxNet::OnnxNet(OnnxModel model, Device device, const std::string& image_input)
    : model_(std::move(model)), device_(device), image_input_(image_input) {
    if (image_input_.empty()) {
        // A 4-D input whose middle dimensions are both 1 is a vector (an arbitrary-style network's style), not a picture.
        for (const auto& v : model_.inputs)
            if (v.type == OnnxType::Float && v.dims.size() == 4 && !(v.dims[1] == 1 && v.dims[2] == 1)) {
                if (!image_input_.empty())
                    throw Error(model_.file + ": two 4-D inputs ('" + image_input_ + "', '" + v.name + "'); name the picture's");
                image_input_ = v.name;
            }
        if (image_input_.empty()) throw Error(model_.file + ": no 4-D float input to take the picture");
    }
    bool found = false;
    for (const auto& v : model_.inputs) {
        if (v.name == image_input_) found = true;
        else host_inputs_.push_back(v);
    }
    if (!found) throw Error(model_.file + ": no input named '" + image_input_ + "'");
    for (const auto& v : model_.inputs)
        if (v.name == image_input_ && v.dims.size() == 4 && v.dims[3] == 3 && v.dims[1] != 3) nhwc_[image_input_] = true;
    compile();
}

const OnnxTensor& OnnxNet::host_value(const std::string& name, const std::map<std::string, OnnxTensor>& runtime) const {
    if (auto it = runtime.find(name); it != runtime.end()) return it->second;
    if (auto it = folded_.find(name); it != folded_.end()) return it->second;
    throw Error("'" + name + "' is needed on the host but depends on the picture (or was never made)");
}

// ---- loading ----

void OnnxNet::compile() {
    const auto& nodes = model_.nodes;
    folded_ = model_.initializers;
    is_image_[image_input_] = true;
    done_.assign(nodes.size(), false);
    for (size_t k = 0; k < nodes.size(); ++k)
        for (const auto& in : nodes[k].inputs)
            if (!in.empty() && (users_[in].empty() || users_[in].back() != k)) users_[in].push_back(k);  // Mul(d, d): once

    // Pass 1: which values depend on the image; fold the nodes whose inputs are all constants (at most
    // kMaxFoldedElements values made so, beyond the initializers: a small file cannot ask for gigabytes).
    int64_t folded_total = 0;
    for (size_t k = 0; k < nodes.size(); ++k) {
        const OnnxNode& n = nodes[k];
        bool image = false, constant = true;
        for (const auto& in : n.inputs) {
            if (in.empty()) continue;
            image = image || is_image_[in];
            constant = constant && folded_.count(in);
        }
        // Shape and GlobalAveragePool of an image value are small host values (computed per forward).
        const bool to_host = image && (n.op == "Shape" || n.op == "GlobalAveragePool");
        for (const auto& out : n.outputs) is_image_[out] = image && !to_host;
        if (image) continue;
        if (!onnx_host_op_known(n.op)) fail(model_, n, "this operator is not supported");
        if (!constant) continue;
        std::vector<const OnnxTensor*> in;
        for (const auto& name : n.inputs) in.push_back(name.empty() ? nullptr : &folded_.at(name));
        std::vector<OnnxTensor> out;
        try {
            out = eval_host_node(n, in, model_.opset);
        } catch (const Error& e) {
            throw Error(model_.file + ": " + e.what());
        }
        for (size_t j = 0; j < n.outputs.size() && j < out.size(); ++j) {
            folded_total += out[j].numel();
            folded_[n.outputs[j]] = std::move(out[j]);
        }
        if (folded_total > kMaxFoldedElements)
            fail(model_, n, "the graph's constants come to more than " + std::to_string(kMaxFoldedElements) + " values");
        done_[k] = true;
    }
    for (const auto& o : model_.outputs)
        if (!is_image_[o.name]) throw Error(model_.file + ": output '" + o.name + "' does not depend on '" + image_input_ + "'");

    // Pass 2: the steps, in graph order; fused groups run where their last node stood.
    for (size_t k = 0; k < nodes.size(); ++k) {
        if (auto it = pending_.find(k); it != pending_.end()) {
            steps_.push_back(it->second);
            continue;
        }
        if (done_[k]) continue;
        const OnnxNode& n = nodes[k];
        const bool image = std::any_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& s) { return !s.empty() && is_image_[s]; });
        if (!image) {
            steps_.push_back({Kind::Host, k, n.inputs, n.outputs.empty() ? "" : n.outputs[0]});
            continue;
        }
        if (n.op == "Shape") {
            if (nhwc_[n.input(0)]) fail(model_, n, "the shape of a channels-last value is not supported");
            steps_.push_back({Kind::Shape, k, n.inputs, n.outputs[0]});
            continue;
        }
        if (n.op == "GlobalAveragePool") {
            if (nhwc_[n.input(0)]) fail(model_, n, "pooling a channels-last value is not supported");
            steps_.push_back({Kind::GlobalMean, k, {n.input(0)}, n.outputs[0]});
            continue;
        }
        if (n.op == "ReduceMean" && match_instance_norm(k)) continue;
        lower_image_node(k);
    }
    note_last_uses();
}

// Recognises the instance norm an exporter writes out from ReduceMean node r onwards (see the header);
// on success marks the group's nodes done and leaves one InstanceNorm step pending at its last node.
bool OnnxNet::match_instance_norm(size_t r) {
    const auto& nodes = model_.nodes;
    std::vector<size_t> group{r};
    auto reduce_axes = [&](const OnnxNode& n) {
        if (model_.opset >= 18) {
            const std::string a = n.input(1);
            return a.empty() || !folded_.count(a) ? std::vector<int64_t>{} : std::vector<int64_t>(folded_.at(a).i.begin(), folded_.at(a).i.end());
        }
        return n.attr_ints("axes", {});
    };
    auto is_spatial_mean = [&](size_t k) {
        const OnnxNode& n = nodes[k];
        return n.op == "ReduceMean" && n.attr_int("keepdims", 1) == 1 && spatial_axes(reduce_axes(n));
    };
    // The one node reading value v (none when v is read twice, or is a graph output).
    auto sole_user = [&](const std::string& v) -> const OnnxNode* {
        for (const auto& o : model_.outputs)
            if (o.name == v) return nullptr;
        auto it = users_.find(v);
        if (it == users_.end() || it->second.size() != 1 || done_[it->second[0]]) return nullptr;
        group.push_back(it->second[0]);
        return &nodes[it->second[0]];
    };
    auto other = [](const OnnxNode& n, const std::string& v) { return n.input(0) == v ? n.input(1) : n.input(0); };
    auto is_const_scalar = [&](const std::string& v, double want, bool any) {
        auto it = folded_.find(v);
        if (it == folded_.end() || it->second.numel() != 1 || !it->second.floating() || it->second.shape.size() > 4) return false;
        return any || it->second.at(0) == want;
    };

    if (!is_spatial_mean(r)) return false;
    const OnnxNode& mean = nodes[r];
    const std::string x = mean.input(0);
    if (nhwc_[x]) return false;  // its axes would be the wrong ones
    const OnnxNode* sub = sole_user(mean.outputs[0]);
    if (!sub || sub->op != "Sub" || sub->input(0) != x || sub->input(1) != mean.outputs[0]) return false;
    const std::string d = sub->outputs[0];
    auto d_users = users_.find(d);
    if (d_users == users_.end() || d_users->second.size() != 2) return false;
    for (const auto& o : model_.outputs)
        if (o.name == d) return false;
    // d feeds the square and the normalisation; find the square.
    const OnnxNode* sq = nullptr;
    size_t sq_k = 0;
    for (size_t k : d_users->second) {
        const OnnxNode& n = nodes[k];
        if ((n.op == "Pow" && n.input(0) == d && is_const_scalar(n.input(1), 2.0, false)) ||
            (n.op == "Mul" && n.input(0) == d && n.input(1) == d))
            sq = &n, sq_k = k;
    }
    if (!sq) return false;
    group.push_back(sq_k);
    const OnnxNode* var = sole_user(sq->outputs[0]);
    if (!var || !is_spatial_mean(group.back())) return false;
    const OnnxNode* add = sole_user(var->outputs[0]);
    if (!add || add->op != "Add" || !is_const_scalar(other(*add, var->outputs[0]), 0, true)) return false;
    const std::string eps = other(*add, var->outputs[0]);
    const OnnxNode* sqrt = sole_user(add->outputs[0]);
    if (!sqrt || sqrt->op != "Sqrt") return false;
    const OnnxNode* next = sole_user(sqrt->outputs[0]);
    if (!next) return false;
    const OnnxNode* norm = nullptr;
    double factor = 1.0;  // 1/sqrt(var + eps) times constant scalars an exporter left in (folded into the scale)
    if (next->op == "Div" && next->input(0) == d && next->input(1) == sqrt->outputs[0]) {
        norm = next;
    } else if (next->op == "Reciprocal" || (next->op == "Div" && next->input(1) == sqrt->outputs[0] && is_const_scalar(next->input(0), 0, true))) {
        if (next->op == "Div") factor = folded_.at(next->input(0)).at(0);
        std::string r = next->outputs[0];
        const OnnxNode* mul = sole_user(r);
        while (mul && mul->op == "Mul" && other(*mul, r) != d && is_const_scalar(other(*mul, r), 0, true)) {
            factor *= folded_.at(other(*mul, r)).at(0);
            r = mul->outputs[0];
            mul = sole_user(r);
        }
        if (!mul || mul->op != "Mul" || other(*mul, r) != d) return false;
        norm = mul;
    }
    if (!norm) return false;
    // d's second reader must be this normalisation.
    const size_t norm_k = group.back();
    if (std::find(d_users->second.begin(), d_users->second.end(), norm_k) == d_users->second.end()) return false;

    Step s{Kind::InstanceNorm, norm_k, {x}, norm->outputs[0]};
    s.eps = eps;
    s.factor = factor;
    // An optional per-channel scale (Mul by a host value) and shift (Add of a host value).
    std::string y = norm->outputs[0];
    const size_t before_affine = group.size();
    if (const OnnxNode* mul = sole_user(y); mul && mul->op == "Mul" && !is_image_[other(*mul, y)]) {
        s.gamma = other(*mul, y), y = mul->outputs[0], s.node = group.back();
    } else if (group.size() > before_affine) {
        group.pop_back();
    }
    const size_t before_shift = group.size();
    if (const OnnxNode* add2 = sole_user(y); add2 && add2->op == "Add" && !is_image_[other(*add2, y)]) {
        s.beta = other(*add2, y), y = add2->outputs[0], s.node = group.back();
    } else if (group.size() > before_shift) {
        group.pop_back();
    }
    s.out = y;
    for (size_t k : group) done_[k] = true;
    pending_.insert_or_assign(s.node, s);  // runs where its last node stood, after the host values it reads
    return true;
}

void OnnxNet::lower_image_node(size_t k) {
    const OnnxNode& n = model_.nodes[k];
    auto image_in = [&](size_t j) { return j < n.inputs.size() && !n.inputs[j].empty() && is_image_[n.inputs[j]]; };
    Step s{Kind::Relu, k, n.inputs, n.outputs.empty() ? "" : n.outputs[0]};
    const std::string& op = n.op;
    if (op == "Conv") {
        if (image_in(1) || image_in(2) || !folded_.count(n.input(1)) || (!n.input(2).empty() && !folded_.count(n.input(2))))
            fail(model_, n, "its weights and bias must be constants");
        const OnnxTensor& w = folded_.at(n.input(1));
        if (w.shape.size() != 4 || !w.floating()) fail(model_, n, "weights " + shape_to_string(w.shape) + " are not 4-D float (K,C,R,S)");
        if (n.attr_int("group", 1) != 1) fail(model_, n, "grouped convolution (group " + std::to_string(n.attr_int("group", 1)) + ") is not supported");
        for (int64_t dl : n.attr_ints("dilations", {1, 1}))
            if (dl != 1) fail(model_, n, "dilated convolution is not supported");
        const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
        if (auto_pad != "NOTSET" && auto_pad != "VALID") fail(model_, n, "auto_pad " + auto_pad + " is not supported (give pads)");
        const auto strides = n.attr_ints("strides", {1, 1}), pads = n.attr_ints("pads", {0, 0, 0, 0});
        if (strides.size() != 2 || strides[0] != strides[1] || strides[0] < 1 || strides[0] > 64)
            fail(model_, n, "strides " + shape_to_string(strides) + ": only equal strides are supported");
        if (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [&](int64_t p) { return p != pads[0]; }) || pads[0] < 0 ||
            pads[0] > 1024)
            fail(model_, n, "pads " + shape_to_string(pads) + ": only the same padding on every side is supported");
        Tensor weight = Tensor::from_vector(w.f, w.shape).to(device_), bias;
        if (!n.input(2).empty()) {
            const OnnxTensor& b = folded_.at(n.input(2));
            if (b.numel() != w.shape[0]) fail(model_, n, "bias " + shape_to_string(b.shape) + " does not match " + std::to_string(w.shape[0]) + " filters");
            bias = Tensor::from_vector(b.f, {w.shape[0]}).to(device_);
        }
        convs_.push_back(std::make_unique<Conv2d>(weight, bias, int(strides[0]), int(pads[0])));
        s.kind = Kind::Conv, s.conv = int(convs_.size() - 1), s.in = {n.input(0)};
        multiple_ *= int(strides[0]);
    } else if (op == "Pad") {
        const std::string mode = n.attr_string("mode", "constant");
        if (mode != "reflect" && mode != "constant") fail(model_, n, "mode " + mode + " is not supported (reflect is)");
        s.kind = Kind::Pad;
    } else if (op == "Resize" || op == "Upsample") {
        const std::string mode = n.attr_string("mode", "nearest");
        const std::string ctm = n.attr_string("coordinate_transformation_mode", model_.opset >= 11 ? "half_pixel" : "asymmetric");
        const std::string nm = n.attr_string("nearest_mode", "round_prefer_floor");
        if (mode != "nearest") fail(model_, n, "mode " + mode + " is not supported (nearest is)");
        if (ctm != "asymmetric") fail(model_, n, "coordinate_transformation_mode " + ctm + " is not supported (asymmetric is)");
        if (model_.opset >= 11 && nm != "floor") fail(model_, n, "nearest_mode " + nm + " is not supported (floor is)");
        s.kind = Kind::Resize;
    } else if (op == "Relu" || op == "Sigmoid") {
        s.kind = op == "Relu" ? Kind::Relu : Kind::Sigmoid;
    } else if (op == "Add" || op == "Sub" || op == "Mul") {
        if (image_in(0) && image_in(1)) {
            if (nhwc_[n.input(0)] != nhwc_[n.input(1)]) fail(model_, n, "one operand is channels-last and the other is not");
            s.kind = op == "Add" ? Kind::Add : op == "Sub" ? Kind::Sub : Kind::Mul;
        } else {  // a picture and a per-channel host value (checked at run time, when its shape is known)
            s.kind = Kind::Affine;
            s.host_operand = image_in(0) ? 1 : 0;
            s.in = {n.input(1 - s.host_operand)};
            if (nhwc_[s.in[0]]) fail(model_, n, "per-channel arithmetic on a channels-last value is not supported");
        }
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
        if (image_in(1) || image_in(2)) fail(model_, n, "its scale and zero point must not depend on the image");
        s.kind = op == "QuantizeLinear" ? Kind::Quantize : Kind::Dequantize;
        s.in = {n.input(0)};
    } else if (op == "Transpose") {
        const auto perm = n.attr_ints("perm", {});
        const bool to_first = perm == std::vector<int64_t>{0, 3, 1, 2}, to_last = perm == std::vector<int64_t>{0, 2, 3, 1};
        if (!(to_first && nhwc_[n.input(0)]) && !(to_last && !nhwc_[n.input(0)]))
            fail(model_, n, "perm " + shape_to_string(perm) + ": on the image only channels-last <-> channels-first of a 4-D value is supported");
        s.kind = Kind::Transpose;
        s.in = {n.input(0)};
    } else if (op == "InstanceNormalization") {
        if (image_in(1) || image_in(2)) fail(model_, n, "scale and bias must not depend on the image");
        s.kind = Kind::InstanceNorm, s.in = {n.input(0)}, s.gamma = n.input(1), s.beta = n.input(2);
        s.eps.clear();
        s.eps_value = n.attr_float("epsilon", 1e-5f);
    } else if (op == "Clip") {
        s.kind = Kind::Clamp0;  // checked at run time: min 0, no max (a ReLU)
    } else {
        fail(model_, n, "this operator is not supported on the image (supported: Conv, Pad, Resize, Relu, Sigmoid, Add, Sub, Mul, "
                        "InstanceNormalization and the written-out instance norm, QuantizeLinear, DequantizeLinear, "
                        "GlobalAveragePool, Transpose between channels-last and channels-first)");
    }
    // The layout the output is held in: pointwise steps and Pad keep their input's; Transpose switches it;
    // the rest need channels-first.
    const bool in_last = !s.in.empty() && nhwc_[s.in[0]];
    const bool layout_free = s.kind == Kind::Relu || s.kind == Kind::Sigmoid || s.kind == Kind::Clamp0 || s.kind == Kind::Pad ||
                             s.kind == Kind::Quantize || s.kind == Kind::Dequantize || s.kind == Kind::Add || s.kind == Kind::Sub ||
                             s.kind == Kind::Mul;
    if (s.kind == Kind::Transpose) nhwc_[s.out] = !in_last;
    else if (layout_free) nhwc_[s.out] = in_last;
    else if (in_last) fail(model_, n, "a channels-last input is not supported here (a Transpose (0,3,1,2) must come first)");
    steps_.push_back(s);
}

void OnnxNet::note_last_uses() {
    std::unordered_map<std::string, size_t> last;
    auto reads = [&](const Step& s) {
        std::vector<std::string> v = s.in;
        return v;
    };
    for (size_t i = 0; i < steps_.size(); ++i)
        for (const auto& name : reads(steps_[i]))
            if (!name.empty() && is_image_[name]) last[name] = i;
    free_after_.assign(steps_.size(), {});
    for (const auto& [name, i] : last) {
        bool output = false;
        for (const auto& o : model_.outputs) output = output || o.name == name;
        if (!output) free_after_[i].push_back(name);
    }
}

// ---- running ----

Tensor OnnxNet::forward(const Tensor& image, const std::map<std::string, OnnxTensor>& host_inputs) const {
    const std::string& file = model_.file;
    if (image.ndim() != 4) throw Error(file + ": input '" + image_input_ + "' must be 4-D (N,C,H,W), got " + shape_to_string(image.shape()));
    std::map<std::string, OnnxTensor> runtime;
    for (const auto& v : host_inputs_) {
        auto it = host_inputs.find(v.name);
        if (it == host_inputs.end()) throw Error(file + ": input '" + v.name + "' was not given");
        const OnnxTensor& t = it->second;
        bool fits = t.shape.size() == v.dims.size() && t.floating() == weights::is_float(v.type);
        for (size_t d = 0; fits && d < v.dims.size(); ++d) fits = v.dims[d] < 0 || v.dims[d] == t.shape[d];
        if (!fits) throw Error(file + ": input '" + v.name + "' must be " + onnx_type_name(v.type) + " " + shape_to_string(v.dims) +
                               ", got " + onnx_type_name(t.type) + " " + shape_to_string(t.shape));
        runtime[v.name] = t;
    }
    std::unordered_map<std::string, Tensor> dev;
    dev[image_input_] = image;
    auto at = [&](const std::string& name) -> const Tensor& { return dev.at(name); };
    for (size_t i = 0; i < steps_.size(); ++i) {
        const Step& s = steps_[i];
        const OnnxNode& n = model_.nodes[s.node];
        const auto t0 = std::chrono::steady_clock::now();
        try {
            switch (s.kind) {
                case Kind::Host: {
                    std::vector<const OnnxTensor*> in;
                    for (const auto& name : s.in) in.push_back(name.empty() ? nullptr : &host_value(name, runtime));
                    auto out = eval_host_node(n, in, model_.opset);
                    for (size_t j = 0; j < n.outputs.size() && j < out.size(); ++j) runtime[n.outputs[j]] = std::move(out[j]);
                    break;
                }
                case Kind::Shape: {
                    OnnxTensor shape_only;
                    shape_only.shape = at(s.in[0]).shape();
                    runtime[s.out] = eval_host_node(n, {&shape_only}, model_.opset)[0];
                    break;
                }
                case Kind::Conv: dev[s.out] = convs_[size_t(s.conv)]->forward(at(s.in[0])); break;
                case Kind::Relu: dev[s.out] = relu(at(s.in[0])); break;
                case Kind::Sigmoid: dev[s.out] = sigmoid(at(s.in[0])); break;
                case Kind::Add:
                case Kind::Sub:
                case Kind::Mul: {
                    const Tensor &a = at(s.in[0]), &b = at(s.in[1]);
                    if (a.shape() != b.shape())
                        throw Error("image operands " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()) + " differ (no broadcasting on the image)");
                    dev[s.out] = s.kind == Kind::Add ? add(a, b) : s.kind == Kind::Sub ? sub(a, b) : mul(a, b);
                    break;
                }
                case Kind::Transpose: dev[s.out] = at(s.in[0]); break;  // the layout tag changed at load
                case Kind::Quantize:
                case Kind::Dequantize: {
                    const OnnxTensor& sc = host_value(n.input(1), runtime);
                    if (sc.numel() != 1) throw Error("a scale of " + std::to_string(sc.numel()) + " values on the image (only one per tensor is supported)");
                    const OnnxTensor* zp = n.input(2).empty() ? nullptr : &host_value(n.input(2), runtime);
                    if (zp && zp->numel() != 1) throw Error("a zero point of " + std::to_string(zp->numel()) + " values on the image");
                    const double scale = sc.at(0), zero = zp ? zp->at(0) : 0.0;
                    if (s.kind == Kind::Dequantize) {
                        dev[s.out] = dequantize_linear(at(s.in[0]), scale, zero);
                    } else {
                        const OnnxType t = zp ? zp->type : OnnxType::UInt8;
                        if (t != OnnxType::Int8 && t != OnnxType::UInt8) throw Error("only int8 and uint8 quantization is supported");
                        const bool int8 = t == OnnxType::Int8;
                        dev[s.out] = quantize_linear(at(s.in[0]), scale, zero, int8 ? -128 : 0, int8 ? 127 : 255);
                    }
                    break;
                }
                case Kind::GlobalMean: {
                    const Tensor m = spatial_mean(at(s.in[0]));
                    OnnxTensor h;
                    h.shape = {m.dim(0), m.dim(1), 1, 1};
                    h.f = m.to(Device::cpu()).to_vector<float>();
                    runtime[s.out] = std::move(h);
                    break;
                }
                case Kind::Affine: {
                    const Tensor& x = at(s.in[0]);
                    const OnnxTensor& h = host_value(n.input(size_t(s.host_operand)), runtime);
                    const int64_t N = x.dim(0), C = x.dim(1);
                    if (!h.floating()) throw Error("the host operand is not float");
                    // Per channel: one value, or [C], [1,C,1,1], [N,C,1,1] (leading ones dropped).
                    std::vector<int64_t> sh = h.shape;
                    while (!sh.empty() && sh.front() == 1 && sh.size() > 3) sh.erase(sh.begin());
                    Shape pshape;
                    if (h.numel() == 1) pshape = {1};
                    else if (sh == std::vector<int64_t>{C, 1, 1}) pshape = {C};  // ([C] alone would broadcast along W)
                    else if (sh == std::vector<int64_t>{N, C, 1, 1}) pshape = {N, C};
                    else throw Error("the host operand " + shape_to_string(h.shape) + " is not one value per channel of " + shape_to_string(x.shape()));
                    Tensor v = device_tensor(h, pshape, device_);
                    if (h.numel() == 1 && C != 1) v = Tensor::full({C}, h.at(0), DType::F32, device_);
                    const bool host_first = s.host_operand == 0;
                    if (n.op == "Mul") dev[s.out] = channel_affine(x, v, {});
                    else if (n.op == "Add") dev[s.out] = channel_affine(x, {}, v);
                    else if (!host_first) dev[s.out] = channel_affine(x, {}, scale(v, -1.0));  // x − h
                    else dev[s.out] = channel_affine(x, Tensor::full(v.shape(), -1.0, DType::F32, device_), v);  // h − x
                    break;
                }
                case Kind::Clamp0: {
                    const bool relu_like = !n.input(1).empty() && host_value(n.input(1), runtime).numel() == 1 &&
                                           host_value(n.input(1), runtime).at(0) == 0.0;
                    if (!relu_like || !n.input(2).empty()) throw Error("Clip on the image is supported only as min 0, no max (a ReLU)");
                    dev[s.out] = relu(at(s.in[0]));
                    break;
                }
                case Kind::Pad: {
                    std::vector<int64_t> pads;
                    float value = 0;
                    if (model_.opset < 11) {
                        pads = n.attr_ints("pads", {}), value = n.attr_float("value", 0.0f);
                    } else {
                        const OnnxTensor& p = host_value(n.input(1), runtime);
                        for (int64_t k = 0; k < p.numel(); ++k) pads.push_back(int64_t(p.at(k)));
                        if (!n.input(2).empty()) {
                            const OnnxTensor& v = host_value(n.input(2), runtime);
                            if (v.numel() != 1) throw Error("the constant value must hold one value");
                            value = float(v.at(0));
                        }
                        if (!n.input(3).empty()) throw Error("the axes input is not supported");
                    }
                    if (pads.size() == 8 && nhwc_.count(s.in[0]) && nhwc_.at(s.in[0]))  // (N,H,W,C) begins, ends -> (N,C,H,W)
                        pads = {pads[0], pads[3], pads[1], pads[2], pads[4], pads[7], pads[5], pads[6]};
                    if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5])
                        throw Error("pads " + shape_to_string(pads) + ": only the height and width of a 4-D tensor may be padded");
                    for (int64_t p : pads)
                        if (p < 0 || p > (int64_t(1) << 20)) throw Error("pads " + shape_to_string(pads) + ": out of range");
                    const bool none = pads[2] == 0 && pads[3] == 0 && pads[6] == 0 && pads[7] == 0;
                    const std::string mode = n.attr_string("mode", "constant");
                    if (none) dev[s.out] = at(s.in[0]);
                    else if (mode == "reflect") dev[s.out] = reflection_pad2d(at(s.in[0]), int(pads[2]), int(pads[6]), int(pads[3]), int(pads[7]));
                    else throw Error("constant padding (value " + std::to_string(value) + ") of the image is not supported");
                    break;
                }
                case Kind::Resize: {
                    const Tensor& x = at(s.in[0]);
                    const int64_t H = x.dim(2), W = x.dim(3);
                    int64_t oh = 0, ow = 0;
                    const std::string sizes = model_.opset >= 11 ? n.input(3) : "";
                    const std::string scales = model_.opset >= 11 ? n.input(2) : n.input(1);
                    if (!sizes.empty()) {
                        const OnnxTensor& t = host_value(sizes, runtime);
                        if (t.numel() != 4 || t.at(0) != double(x.dim(0)) || t.at(1) != double(x.dim(1)))
                            throw Error("sizes must be 4 values keeping N and C");
                        oh = int64_t(t.at(2)), ow = int64_t(t.at(3));
                    } else if (!scales.empty()) {
                        const OnnxTensor& t = host_value(scales, runtime);
                        if (t.numel() != 4 || t.at(0) != 1 || t.at(1) != 1) throw Error("scales must be 4 values with 1 for N and C");
                        const double fh = double(H) * t.at(2), fw = double(W) * t.at(3);
                        oh = int64_t(std::floor(fh)), ow = int64_t(std::floor(fw));
                        // resize_nearest maps output i to input floor(i·H/oh); ONNX to floor(i/scale): the same
                        // when the scaled size is whole.
                        if (double(oh) != fh || double(ow) != fw) throw Error("scales that do not give whole sizes are not supported");
                    } else {
                        throw Error("neither scales nor sizes given");
                    }
                    if (oh < 1 || ow < 1 || oh > (int64_t(1) << 20) || ow > (int64_t(1) << 20) || x.dim(0) * x.dim(1) * oh > (int64_t(1) << 40) / ow)
                        throw Error("output size " + std::to_string(oh) + "x" + std::to_string(ow) + " is out of range");
                    dev[s.out] = resize_nearest(x, oh, ow);
                    break;
                }
                case Kind::InstanceNorm: {
                    const Tensor& x = at(s.in[0]);
                    const int64_t N = x.dim(0), C = x.dim(1);
                    const bool standard = n.op == "InstanceNormalization";
                    auto affine = [&](const std::string& name) -> Tensor {
                        if (name.empty()) return {};
                        const OnnxTensor& t = host_value(name, runtime);
                        if (!t.floating()) throw Error("'" + name + "' is not float");
                        std::vector<int64_t> sh = t.shape;
                        // Per-channel: [C] for InstanceNormalization; [.., C, 1, 1] or [N, C, 1, 1] written out.
                        if (standard && sh == std::vector<int64_t>{C}) return device_tensor(t, {C}, device_);
                        if (sh.size() > 4) throw Error("scale or shift '" + name + "' of rank " + std::to_string(sh.size()) + " would broadcast the picture to it");
                        while (sh.size() > 3 && sh.front() == 1) sh.erase(sh.begin());
                        if (!standard && sh == std::vector<int64_t>{C, 1, 1}) return device_tensor(t, {C}, device_);
                        if (!standard && sh == std::vector<int64_t>{N, C, 1, 1}) return device_tensor(t, {N, C}, device_);
                        throw Error("scale or shift '" + name + "' of shape " + shape_to_string(t.shape) + " is not one value per channel of " +
                                    shape_to_string(x.shape()));
                    };
                    Tensor g = affine(s.gamma), b = affine(s.beta);
                    if (s.factor != 1.0 && !g.defined()) g = Tensor::full(b.defined() ? b.shape() : Shape{C}, 1.0, DType::F32, device_);
                    if (s.factor != 1.0) g = scale(g, s.factor);
                    if (g.defined() != b.defined()) {  // instance_norm takes both or neither
                        if (!g.defined()) g = Tensor::full(b.shape(), 1.0, DType::F32, device_);
                        else b = Tensor::zeros(g.shape(), DType::F32, device_);
                    }
                    double eps = s.eps_value;
                    if (!s.eps.empty()) {
                        const OnnxTensor& e = host_value(s.eps, runtime);
                        if (e.numel() != 1) throw Error("epsilon '" + s.eps + "' must hold one value");
                        eps = e.at(0);
                    }
                    if (!(eps > 0)) throw Error("epsilon " + std::to_string(eps) + " must be positive");
                    dev[s.out] = instance_norm(x, g, b, eps);
                    break;
                }
            }
        } catch (const Error& e) {
            const std::string what = e.what();
            if (what.rfind(file, 0) == 0) throw;
            throw Error(file + ": " + n.label() + ": " + what);
        }
        if (reach_ && s.kind != Kind::Host && s.kind != Kind::Shape) {  // GlobalMean refused below
            // Reach in the value's own pixels: [0, R) and the last R are touched by a tile edge (edge_reach).
            if (s.kind == Kind::GlobalMean)
                throw Error("GlobalAveragePool takes its statistics over the whole picture: tiles would each see their own");
            const Tensor& y = dev.at(s.out);
            const Tensor& x = dev.at(s.in[0]);
            double r = reach_->count(s.in[0]) ? reach_->at(s.in[0]) : 0;
            if (s.kind == Kind::Conv) {  // output j reads s·j − pad ..: touched while s·j − pad < R
                const double st = double(n.attr_ints("strides", {1, 1})[0]), pad = double(n.attr_ints("pads", {0, 0, 0, 0})[0]);
                r = std::ceil((r + pad) / st);
            } else if (s.kind == Kind::Pad) {  // each side's pad at most the growth
                r += double(std::max(y.dim(2) - x.dim(2), y.dim(3) - x.dim(3)));
            } else if (s.kind == Kind::Resize) {  // output i reads floor(i · in / out)
                if (y.dim(2) < x.dim(2) || y.dim(3) < x.dim(3))
                    throw Error("a Resize that shrinks the picture: tiles cannot be aligned to it");
                r = std::ceil(r * std::max(double(y.dim(2)) / double(x.dim(2)), double(y.dim(3)) / double(x.dim(3))));
            } else if (s.kind == Kind::Add || s.kind == Kind::Sub || s.kind == Kind::Mul) {
                if (reach_->count(s.in[1])) r = std::max(r, reach_->at(s.in[1]));
            }
            (*reach_)[s.out] = r;
        }
        for (const auto& name : free_after_[i]) dev.erase(name);
        if (profiling_) {
            cuda_synchronize();
            std::string kind = s.kind == Kind::Host || s.kind == Kind::Shape ? std::string("(host)")
                                     : s.kind == Kind::InstanceNorm && n.op != "InstanceNormalization" ? std::string("InstanceNorm (fused)")
                                                                                                      : n.op;
            if (s.kind == Kind::Conv) {  // by shape: "Conv 9x9/1 3->32"
                const Tensor& w = convs_[size_t(s.conv)]->weight();
                kind += " " + std::to_string(w.dim(2)) + "x" + std::to_string(w.dim(3)) + "/" + std::to_string(n.attr_ints("strides", {1, 1})[0]) +
                        " " + std::to_string(w.dim(1)) + "->" + std::to_string(w.dim(0));
            }
            auto& [sec, count] = profile_[kind];
            sec += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++count;
        }
    }
    return dev.at(model_.outputs[0].name);
}

double OnnxNet::edge_reach(const Tensor& probe, const std::map<std::string, OnnxTensor>& host_inputs) const {
    std::map<std::string, double> reach;
    struct Reset {
        std::map<std::string, double>*& p;
        ~Reset() { p = nullptr; }
    } reset{reach_};
    reach_ = &reach;
    const Tensor y = forward(probe, host_inputs);
    if (y.ndim() != 4 || y.dim(2) != probe.dim(2) || y.dim(3) != probe.dim(3))
        throw Error(model_.file + ": the output " + shape_to_string(y.shape()) + " is not at the input's size " + shape_to_string(probe.shape()));
    return reach.count(model_.outputs[0].name) ? reach.at(model_.outputs[0].name) : 0.0;
}

std::string OnnxNet::describe() const {
    std::vector<std::pair<std::string, int>> counts;
    auto bump = [&](const std::string& what) {
        for (auto& [k, v] : counts)
            if (k == what) return void(++v);
        counts.push_back({what, 1});
    };
    for (const Step& s : steps_) {
        const std::string& op = model_.nodes[s.node].op;
        if (s.kind == Kind::Host || s.kind == Kind::Shape) continue;
        if (s.kind == Kind::Transpose) continue;  // a layout tag, no work
        bump(s.kind == Kind::InstanceNorm && op != "InstanceNormalization" ? std::string("InstanceNorm (fused)") : op);
    }
    std::ostringstream o;
    o << "ONNX opset " << model_.opset << (model_.producer.empty() ? "" : " from " + model_.producer) << ":";
    for (size_t i = 0; i < counts.size(); ++i) o << (i ? ", " : " ") << counts[i].second << " " << counts[i].first;
    return o.str();
}

}  // namespace nst
