// The Gatys et al. style-transfer objective, with jcjohnson/neural-style's definitions so its users'
// weights carry over (see docs/nst.md):
//   content  Σ_l  w_c · mean((F_l − P_l)²)                 at --content-layers (default relu4_2)
//   style    Σ_l  w_s · mean((G_l − A_l)²),  G = F Fᵀ/(C·H·W)  at --style-layers (relu1_1 … relu5_1);
//            A_l blends the style images' Grams with --style-blend-weights (normalised to sum 1)
//   tv       w_tv · ½ Σ (x[i,j+1] − x[i,j])² + (x[i+1,j] − x[i,j])²
// on the image x in the network's input space.
//
// Gatys et al. 2017's spatial and scale controls (StyleControls, derivations in docs/nst.md):
//   masks    one mask m_r per style image: at each style layer, region r's term compares the guided Gram
//            G_r = (F∘m_r)(F∘m_r)ᵀ/(C·Σm_r²) with style image r's own Gram (no blending), m_r taken to
//            the layer's size by 2x2 average pooling, once per pooling of the network before that layer.
//            A pixel no mask covers has no style term. The layer's reported style term is the regions' sum.
//   coarse   the style layers listed in coarse_layers take their targets from coarse_style's Grams instead. The weights are given for neural-style's 0..255 Caffe
// convention; for weights expecting another input range (e.g. torchvision's 0..1 / std) they are rescaled
// so the balance between terms is the same (weight_scale() below).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/vgg19.h"

namespace nst {

struct ObjectiveConfig {
    std::vector<std::string> content_layers{"relu4_2"};
    std::vector<std::string> style_layers{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
    double content_weight = 5.0, style_weight = 100.0, tv_weight = 1e-3;
    bool normalize_gradients = false;  // neural-style's --normalize-gradients
    Pooling pooling = Pooling::Max;
};

// One evaluation's terms, weighted, as one-element tensors on the objective's device.
struct StyleControls {
    Tensor coarse_style;                     // (1,3,H,W) RGB 0..1 on the CPU, or undefined
    std::vector<std::string> coarse_layers;  // style layers whose targets come from coarse_style
    std::vector<Tensor> masks;               // empty, or one (1,1,H,W) 0..1 per style image at the content's size
};

// The Gram of features f (1,C,H,W) seen through a mask expanded to the same shape, normalised by the mask's
// energy instead of the area: (f∘m)(f∘m)ᵀ/(C·Σ_pixels m²) = gram(f∘m)·H·W/Σ_pixels m². mask_energy = Σ m²
// over the H×W pixels (not over C). With m = 1 everywhere it is gram(f).
Tensor guided_gram(const Tensor& f, const Tensor& mask, double mask_energy);

struct LossTerms {
    std::vector<Tensor> content, style;  // one per layer, in the order the layers were given
    Tensor tv, total;
    Tensor temporal;  // stylize_video's term (nst/temporal.h), undefined elsewhere
};

// What the optimiser and the driver need of an objective (whole-image or tiled, nst/tiled_objective.h).
class Objective {
  public:
    virtual ~Objective() = default;
    // The optimizer's closure: f(x) and its gradient (written into g, same number of elements as x).
    virtual Tensor evaluate(const Tensor& x, Tensor& g) = 0;
    virtual const LossTerms& last() const = 0;
    // How far the weights' input range is from 0..255 (1 for Caffe-convention weights, ~58 for
    // torchvision's). Content and TV weights are multiplied by its square, style by its fourth power.
    virtual double weight_scale() const = 0;
    virtual const VGG19& net() const = 0;
};

// weight_scale() for a network's input convention.
double weight_scale_of(const VGG19& net);

// One layer's activation in VGG19::forward's output; nst::Error if the network was not asked for it.
const Tensor& tap(const std::vector<std::pair<std::string, Tensor>>& out, const std::string& layer);

// Where a VGG-19 layer's positions sit on the input: input pixels per position (2 per pooling before it)
// and its receptive field in input pixels (3x3 convolutions, 2x2 poolings).
struct LayerGeometry {
    int64_t stride = 1;
    int64_t receptive = 1;
};
LayerGeometry layer_geometry(const std::string& layer);

class StyleObjective : public Objective {
  public:
    // content and styles are (1,3,H,W) RGB 0..1 images on the CPU (styles may differ in size).
    StyleObjective(const weights::Vgg19Weights& w, Device device, const ObjectiveConfig& cfg, const Tensor& content,
                   const std::vector<Tensor>& styles, std::vector<double> blend_weights,
                   const StyleControls& controls = {});

    Tensor evaluate(const Tensor& x, Tensor& g) override;
    const LossTerms& last() const override { return last_; }
    double weight_scale() const override { return scale_; }
    const VGG19& net() const override { return net_; }
    Device device() const { return device_; }
    // A new content image of the same size (a video's next frame): only the content targets are
    // recomputed; the style targets, which cost a forward pass per style image, are kept.
    void set_content(const Tensor& content);

  private:
    VGG19 net_;
    Device device_;
    ObjectiveConfig cfg_;
    double scale_ = 1;
    std::vector<Tensor> content_targets_, style_targets_;  // per layer, on the device
    // With masks: per layer, per region, the target Gram, the mask expanded to the layer's shape, and Σm².
    struct Region {
        Tensor target, mask;
        double energy = 0;
    };
    std::vector<std::vector<Region>> regions_;
    std::vector<Shape> style_shapes_;  // each style layer's activation shape for the content
    LossTerms last_;

    void set_style_targets(const std::vector<Tensor>& styles, const std::vector<double>& blend, const StyleControls& c);
    void set_regions(const std::vector<Tensor>& styles, const StyleControls& c);
    Tensor style_loss(size_t layer, const Tensor& f) const;
};

std::vector<std::string> union_of(const std::vector<std::string>& a, const std::vector<std::string>& b);

}  // namespace nst
