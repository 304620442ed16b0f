// PerceptualLoss (contract in perceptual_loss.h).
#include "train/perceptual_loss.h"

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "nst/objective.h"

namespace nst {

namespace {

// torchvision's convention (RGB 0..1, ImageNet mean and std) as weight_scale_of measures it.
double torchvision_scale() { return 255.0 * std::cbrt(0.229 * 0.224 * 0.225); }

}  // namespace

PerceptualLoss::PerceptualLoss(const weights::Vgg19Weights& w, Device device, PerceptualOptions o,
                               const std::vector<Tensor>& styles)
    : net_(w, device, union_of(o.content_layers, o.style_layers)), o_(std::move(o)), device_(device) {
    if (o_.content_layers.empty() || o_.style_layers.empty()) throw Error("perceptual loss: needs content and style layers");
    if (styles.empty()) throw Error("perceptual loss: no style image");
    // features_input as a 1x1 conv: out[c] = a[c]·in[src(c)] + b[c], with in in 0..255.
    const weights::InputConvention& cv = net_.convention();
    std::vector<float> wv(9, 0.f), bv(3);
    for (int c = 0; c < 3; ++c) {
        const int src = cv.bgr ? 2 - c : c;
        wv[size_t(c * 3 + src)] = float(cv.scale / cv.std[size_t(c)] / 255.0);
        bv[size_t(c)] = float(-cv.mean[size_t(c)] / cv.std[size_t(c)]);
    }
    pre_w_ = Tensor::from_vector(wv, {3, 3, 1, 1}, device);
    pre_b_ = Tensor::from_vector(bv, {3}, device);
    const double r = torchvision_scale() / weight_scale_of(net_);
    content_scale_ = 1.0 / (r * r);
    style_scale_ = 1.0 / (r * r * r * r);

    NoGradGuard ng;
    for (const Tensor& s : styles) {
        const auto taps = net_.forward(features_input(scale(s.to(device), 255.0)));
        std::vector<Tensor> grams;
        for (const auto& l : o_.style_layers) grams.push_back(gram(tap(taps, l)).detach());
        targets_.push_back(std::move(grams));
    }
}

Tensor PerceptualLoss::features_input(const Tensor& rgb255) const { return conv2d(rgb255, pre_w_, pre_b_, 1, 0); }

Tensor PerceptualLoss::target(int style, size_t layer, int64_t n) {
    const Tensor& t = targets_[size_t(style)][layer];
    if (n == 1) return t;
    const auto key = std::make_pair(int64_t(style) * int64_t(o_.style_layers.size()) + int64_t(layer), n);
    auto it = repeated_.find(key);
    if (it != repeated_.end()) return it->second;
    const std::vector<float> one = t.to_vector<float>();
    std::vector<float> rows;
    rows.reserve(one.size() * size_t(n));
    for (int64_t i = 0; i < n; ++i) rows.insert(rows.end(), one.begin(), one.end());
    Tensor rep = Tensor::from_vector(rows, {n, t.dim(1), t.dim(2)}, device_);
    repeated_[key] = rep;
    return rep;
}

PerceptualTerms PerceptualLoss::operator()(const Tensor& y, const Tensor& x, int style) {
    if (style < 0 || style >= styles()) throw Error("perceptual loss: style " + std::to_string(style) + " of " + std::to_string(styles()));
    check_same_shape(y, x, "perceptual loss");
    std::vector<std::pair<std::string, Tensor>> xt;
    {
        NoGradGuard ng;
        xt = net_.forward(features_input(x));
    }
    const auto yt = net_.forward(features_input(y));
    PerceptualTerms t;
    for (const auto& l : o_.content_layers) {
        const Tensor term = mse(tap(yt, l), tap(xt, l).detach());
        t.content = t.content.defined() ? add(t.content, term) : term;
    }
    for (size_t j = 0; j < o_.style_layers.size(); ++j) {
        const Tensor term = mse(gram(tap(yt, o_.style_layers[j])), target(style, j, y.dim(0)));
        t.style = t.style.defined() ? add(t.style, term) : term;
    }
    t.total = add(scale(t.content, o_.content_weight * content_scale_), scale(t.style, o_.style_weight * style_scale_));
    if (o_.tv_weight > 0) {
        t.tv = total_variation(y);
        t.total = add(t.total, scale(t.tv, o_.tv_weight));
    }
    return t;
}

}  // namespace nst
