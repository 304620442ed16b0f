// Johnson et al.'s perceptual loss, as pytorch/examples' fast_neural_style computes it, through VGG-19:
//   content = mean((φ_j(y) − φ_j(x))²) over the content layers j (default relu2_2),
//   style   = Σ_j mean((G_j(y) − G_j(s))²), G_j(f) = f fᵀ / (C_j H_j W_j) (the gram op's own normalisation,
//             pytorch/examples' gram_matrix), over the style layers (default
//             relu1_2, relu2_2, relu3_4, relu4_4: VGG-19's counterparts of the examples' VGG-16 layers),
//   tv      = Σ (neighbour differences of y)² (total_variation), off by default,
//   total   = content_weight·content + style_weight·style + tv_weight·tv,
// with y the network's output batch and x the content batch, both (N,3,H,W) RGB in 0..255.
//
// The weights are in pytorch/examples' units (features of torchvision's input convention: RGB in 0..1
// normalised by ImageNet's mean and std), whatever convention the VGG-19 file uses: features scale with
// the input's range, so content and style are divided by r² and r⁴, r = the file's feature scale over
// torchvision's (nst/objective.h, weight_scale_of). That evens out the input range only: the Oxford
// VGG-19 of ../shared/weights is another training than torchvision's VGG-16, and its Gram terms at these
// layers come out about three orders of magnitude larger. With the examples' 1e10 the style swamps the
// photo (nothing of it is left after 460 steps); the default 1e7 is where a sweep on ../shared/photos
// (docs/fast.md, "Loss weights") kept the photo and took on the style.
//
// The input conversion (0..255 RGB to the file's convention) is a 1x1 convolution, so that gradients flow
// through it on any device.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/vgg19.h"

namespace nst {

struct PerceptualOptions {
    std::vector<std::string> content_layers{"relu2_2"};
    std::vector<std::string> style_layers{"relu1_2", "relu2_2", "relu3_4", "relu4_4"};
    double content_weight = 1e5, style_weight = 1e7, tv_weight = 0;  // the style weight: see above
};

struct PerceptualTerms {
    Tensor content, style, tv, total;  // one-element tensors on the device; tv undefined when off
};

class PerceptualLoss {
  public:
    // styles: (1,3,H,W) RGB in 0..1 each (any size); their Gram matrices are computed once.
    PerceptualLoss(const weights::Vgg19Weights& w, Device device, PerceptualOptions o, const std::vector<Tensor>& styles);

    // y, x: (N,3,H,W) RGB in 0..255 on the device; the style of index `style`. Differentiable in y.
    PerceptualTerms operator()(const Tensor& y, const Tensor& x, int style);

    int styles() const { return int(targets_.size()); }
    const PerceptualOptions& options() const { return o_; }

  private:
    Tensor features_input(const Tensor& rgb255) const;  // 0..255 RGB -> the network's convention
    Tensor target(int style, size_t layer, int64_t n);   // the style's Gram repeated for a batch of n

    VGG19 net_;
    PerceptualOptions o_;
    Device device_;
    Tensor pre_w_, pre_b_;                         // the 1x1 conv of features_input
    double content_scale_ = 1, style_scale_ = 1;   // 1/r², 1/r⁴
    std::vector<std::vector<Tensor>> targets_;     // [style][style layer]: (1,C,C) on the device
    std::map<std::pair<int64_t, int64_t>, Tensor> repeated_;  // (style·layers + layer, n) -> (n,C,C)
};

}  // namespace nst
