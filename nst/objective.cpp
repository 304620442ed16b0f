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

namespace {
double input_range(const weights::InputConvention& c) {
    return c.scale / std::cbrt(c.std[0] * c.std[1] * c.std[2]);
}

// The activation of one layer in VGG19::forward's output (taps in network order).
const Tensor& tap(const std::vector<std::pair<std::string, Tensor>>& out, const std::string& layer) {
    for (const auto& [name, t] : out)
        if (name == layer) return t;
    throw Error("internal: layer " + layer + " missing from the network's output");
}
}  // namespace

StyleObjective::StyleObjective(const weights::Vgg19Weights& w, Device device, const ObjectiveConfig& cfg,
                               const Tensor& content, const std::vector<Tensor>& styles, std::vector<double> blend)
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
    scale_ = 255.0 / input_range(net_.convention());

    NoGradGuard ng;
    {
        const auto out = net_.forward(net_.preprocess(content).to(device));
        for (const auto& l : cfg.content_layers) content_targets_.push_back(tap(out, l).clone());
    }
    style_targets_.assign(cfg.style_layers.size(), Tensor());
    for (size_t s = 0; s < styles.size(); ++s) {
        const auto out = net_.forward(net_.preprocess(styles[s]).to(device));
        for (size_t i = 0; i < cfg.style_layers.size(); ++i) {
            Tensor g = scale(gram(tap(out, cfg.style_layers[i])), blend[s]);
            style_targets_[i] = style_targets_[i].defined() ? add(style_targets_[i], g) : g;
        }
    }
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
        add_term(tap(out, cfg_.style_layers[i]), ws, [&](const Tensor& h) { return mse(gram(h), style_targets_[i]); },
                 terms.style);
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
