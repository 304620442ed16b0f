// The style-transfer objective (contract in objective.h; derivation and choices in docs/nst.md).
#include "nst/objective.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"

namespace nst {

std::vector<std::string> union_of(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::string> r = a;
    for (const auto& s : b)
        if (std::find(r.begin(), r.end(), s) == r.end()) r.push_back(s);
    return r;
}

const Tensor& tap(const std::vector<std::pair<std::string, Tensor>>& out, const std::string& layer) {
    for (const auto& [name, t] : out)
        if (name == layer) return t;
    throw Error("internal: layer " + layer + " missing from the network's output");
}

LayerGeometry layer_geometry(const std::string& layer) {
    LayerGeometry g;
    for (const std::string& name : VGG19::layer_names()) {
        if (name.rfind("conv", 0) == 0) g.receptive += 2 * g.stride;  // 3x3, stride 1
        if (name.rfind("pool", 0) == 0) g.receptive += g.stride, g.stride *= 2;
        if (name == layer) return g;
    }
    throw Error("internal: unknown layer " + layer);
}

double weight_scale_of(const VGG19& net) {
    const weights::InputConvention& c = net.convention();
    return 255.0 / (c.scale / std::cbrt(c.std[0] * c.std[1] * c.std[2]));
}

StyleObjective::StyleObjective(const weights::Vgg19Weights& w, Device device, const ObjectiveConfig& cfg,
                               const Tensor& content, const std::vector<Tensor>& styles, std::vector<double> blend,
                               const StyleControls& controls)
    : net_(w, device, union_of(cfg.content_layers, cfg.style_layers), cfg.pooling), device_(device), cfg_(cfg) {
    if (cfg.content_layers.empty() && cfg.style_layers.empty()) throw Error("no content or style layers given");
    if (styles.empty()) throw Error("no style image given");
    if (blend.empty()) blend.assign(styles.size(), 1.0);
    if (blend.size() != styles.size())
        throw Error("--style-blend-weights has " + std::to_string(blend.size()) + " values for " +
                    std::to_string(styles.size()) + " style images");
    double sum = 0;
    for (double b : blend) {
        if (!(b >= 0) || !std::isfinite(b)) throw Error("--style-blend-weights must be non-negative numbers");
        sum += b;
    }
    if (sum <= 0) throw Error("--style-blend-weights must not all be zero");
    for (double& b : blend) b /= sum;
    scale_ = weight_scale_of(net_);

    for (const auto& l : controls.coarse_layers)
        if (std::find(cfg.style_layers.begin(), cfg.style_layers.end(), l) == cfg.style_layers.end())
            throw Error("--coarse-style-layers: " + l + " is not one of the style layers");
    if (!controls.masks.empty() && controls.masks.size() != styles.size())
        throw Error("--style-masks has " + std::to_string(controls.masks.size()) + " masks for " +
                    std::to_string(styles.size()) + " style images");

    set_content(content);
    NoGradGuard ng;
    if (controls.masks.empty())
        set_style_targets(styles, blend, controls);
    else
        set_regions(styles, controls);
}

void StyleObjective::set_content(const Tensor& content) {
    NoGradGuard ng;
    const auto out = net_.forward(net_.preprocess(content).to(device_));
    std::vector<Shape> shapes;
    for (const auto& l : cfg_.style_layers) shapes.push_back(tap(out, l).shape());
    if (!style_shapes_.empty() && shapes != style_shapes_)
        throw Error("internal: set_content needs a content image of the size the objective was made for");
    style_shapes_ = shapes;
    content_targets_.clear();
    for (const auto& l : cfg_.content_layers) content_targets_.push_back(tap(out, l).clone());
}

namespace {
bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// The Gram of every style layer for one image (1,3,H,W) RGB 0..1.
std::vector<Tensor> grams_of(const VGG19& net, const Tensor& image, const std::vector<std::string>& layers, Device d) {
    const auto out = net.forward(net.preprocess(image).to(d));
    std::vector<Tensor> g;
    for (const auto& l : layers) g.push_back(gram(tap(out, l)));
    return g;
}
}  // namespace

Tensor guided_gram(const Tensor& f, const Tensor& mask, double mask_energy) {
    const double area = double(f.shape()[2]) * double(f.shape()[3]);
    return scale(gram(mul(f, mask)), area / mask_energy);
}

void StyleObjective::set_style_targets(const std::vector<Tensor>& styles, const std::vector<double>& blend,
                                       const StyleControls& c) {
    const auto& layers = cfg_.style_layers;
    style_targets_.assign(layers.size(), Tensor());
    for (size_t s = 0; s < styles.size(); ++s) {
        const auto grams = grams_of(net_, styles[s], layers, device_);
        for (size_t i = 0; i < layers.size(); ++i) {
            const Tensor g = scale(grams[i], blend[s]);
            style_targets_[i] = style_targets_[i].defined() ? add(style_targets_[i], g) : g;
        }
    }
    if (!c.coarse_style.defined()) return;
    const auto coarse = grams_of(net_, c.coarse_style, layers, device_);
    for (size_t i = 0; i < layers.size(); ++i)
        if (contains(c.coarse_layers, layers[i])) style_targets_[i] = coarse[i];
}

void StyleObjective::set_regions(const std::vector<Tensor>& styles, const StyleControls& c) {
    const auto& layers = cfg_.style_layers;
    std::vector<Tensor> coarse;
    if (c.coarse_style.defined()) coarse = grams_of(net_, c.coarse_style, layers, device_);
    regions_.assign(layers.size(), {});
    for (size_t r = 0; r < styles.size(); ++r) {
        const auto grams = grams_of(net_, styles[r], layers, device_);
        for (size_t i = 0; i < layers.size(); ++i) {
            Tensor m = c.masks[r].to(device_);
            for (int64_t s = layer_geometry(layers[i]).stride; s > 1; s /= 2) m = avg_pool2d(m, 2, 2, 0);
            const Shape& fs = style_shapes_[i];
            if (m.shape() != Shape{1, 1, fs[2], fs[3]})
                throw Error("--style-masks: mask " + std::to_string(r + 1) + " does not match the content's size");
            // The mask for every channel (a constant: no gradient flows into it), and its energy Σ m².
            const std::vector<float> px = m.to_vector<float>();
            std::vector<float> expanded;
            expanded.reserve(px.size() * size_t(fs[1]));
            for (int64_t ch = 0; ch < fs[1]; ++ch) expanded.insert(expanded.end(), px.begin(), px.end());
            double energy = 0;
            for (float v : px) energy += double(v) * v;
            const Tensor target = contains(c.coarse_layers, layers[i]) && !coarse.empty() ? coarse[i] : grams[i];
            regions_[i].push_back({target, Tensor::from_vector(expanded, fs).to(device_), energy});
        }
    }
}

Tensor StyleObjective::style_loss(size_t i, const Tensor& f) const {
    if (regions_.empty()) return mse(gram(f), style_targets_[i]);
    Tensor loss;
    for (const Region& r : regions_[i]) {
        if (r.energy <= 0) continue;  // the region vanished at this layer's resolution
        const Tensor t = mse(guided_gram(f, r.mask, r.energy), r.target);
        loss = loss.defined() ? add(loss, t) : t;
    }
    return loss.defined() ? loss : scale(sum(f), 0.0);
}

Tensor StyleObjective::evaluate(const Tensor& x_in, Tensor& g) {
    Tensor x = x_in.detach().requires_grad_();
    const auto out = net_.forward(x);
    const double s2 = scale_ * scale_;
    const double wc = cfg_.content_weight * s2, ws = cfg_.style_weight * s2 * s2, wtv = cfg_.tv_weight * s2;
    LossTerms terms;
    Tensor objective;  // what backward runs on (differs from the reported total when normalising)
    auto accumulate = [&](const Tensor& t) { objective = objective.defined() ? add(objective, t) : t; };
    // One weighted term on features f. With normalised gradients the weight goes into
    // normalize_gradient, which scales after normalising (as neural-style does), and the reported value
    // is weighted separately.
    auto add_term = [&](const Tensor& f, double w, const auto& loss_of, std::vector<Tensor>& report) {
        if (cfg_.normalize_gradients) {
            const Tensor raw = loss_of(normalize_gradient(f, w));
            accumulate(raw);
            report.push_back(scale(raw.detach(), w));
        } else {
            const Tensor t = scale(loss_of(f), w);
            accumulate(t);
            report.push_back(t.detach());
        }
    };
    for (size_t i = 0; i < cfg_.content_layers.size(); ++i)
        add_term(tap(out, cfg_.content_layers[i]), wc, [&](const Tensor& h) { return mse(h, content_targets_[i]); },
                 terms.content);
    for (size_t i = 0; i < cfg_.style_layers.size(); ++i)
        add_term(tap(out, cfg_.style_layers[i]), ws, [&](const Tensor& h) { return style_loss(i, h); }, terms.style);
    if (cfg_.tv_weight != 0) {
        Tensor t = scale(total_variation(x), 0.5 * wtv);
        accumulate(t);
        terms.tv = t.detach();
    } else {
        terms.tv = Tensor::zeros({}, DType::F32, device_);
    }
    objective.backward();
    {
        NoGradGuard ng;
        Tensor total = terms.tv;
        for (const Tensor& t : terms.content) total = add(total, t);
        for (const Tensor& t : terms.style) total = add(total, t);
        terms.total = total;
        g.copy_(x.grad().reshape(g.shape()));
    }
    last_ = terms;
    return terms.total;
}

}  // namespace nst
