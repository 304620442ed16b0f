// The feed-forward style network of Johnson et al. (2016) as pytorch/examples' fast_neural_style builds
// it (TransformerNet), with Ulyanov et al.'s instance normalisation, and its multi-style form with
// conditional instance normalisation (Dumoulin et al. 2017): one row of scale and shift per style,
// mixed per sample by style weights.
//
//   conv1  ReflectionPad 4, conv 9x9/1 -> w1 (32)     in1, ReLU
//   conv2  ReflectionPad 1, conv 3x3/2 -> w2 (64)     in2, ReLU
//   conv3  ReflectionPad 1, conv 3x3/2 -> w3 (128)    in3, ReLU
//   res1..res5  x + in2(conv2(ReLU(in1(conv1(x)))))   (3x3/1, w3 channels)
//   deconv1  nearest x2, ReflectionPad 1, conv 3x3/1 -> w2    in4, ReLU
//   deconv2  nearest x2, ReflectionPad 1, conv 3x3/1 -> w1    in5, ReLU
//   deconv3  ReflectionPad 4, conv 9x9/1 -> 3 (no norm, no activation)
//
// Parameters by pytorch/examples' state-dict names (conv1.conv2d.weight, in1.weight, res1.conv1.conv2d.bias,
// deconv1.conv2d.weight, ...), so its .pth files load and ours load into its code. The widths (32, 64,
// 128 in the paper) are read from the weights; norm parameters of shape (C) make the plain network, of
// shape (S, C) the conditional one. Input and output are RGB in pytorch/examples' range, 0..255 (the
// output unclamped).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/modules.h"
#include "weights/weight_file.h"

namespace nst {

// Ulyanov et al.'s instance norm with a per-channel affine (C).
class InstanceNorm2d : public Module {
  public:
    InstanceNorm2d(Tensor weight, Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {}
    Tensor forward(const Tensor& x) const override { return instance_norm(x, weight_, bias_); }
    std::string describe() const override { return "InstanceNorm2d(" + std::to_string(weight_.dim(0)) + ")"; }
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override {
        return {{"weight", weight_}, {"bias", bias_}};
    }

  private:
    Tensor weight_, bias_;
};

// Dumoulin et al.'s conditional instance norm: rows (S, C) mixed by the network's style weights (N, S).
class ConditionalInstanceNorm2d : public Module {
  public:
    ConditionalInstanceNorm2d(Tensor weight_rows, Tensor bias_rows, std::shared_ptr<const Tensor> mix)
        : weight_(std::move(weight_rows)), bias_(std::move(bias_rows)), mix_(std::move(mix)) {}
    Tensor forward(const Tensor& x) const override;
    std::string describe() const override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override {
        return {{"weight", weight_}, {"bias", bias_}};
    }

  private:
    Tensor weight_, bias_;
    std::shared_ptr<const Tensor> mix_;  // the network's current style weights
};

// pytorch/examples' ConvLayer and UpsampleConvLayer: [nearest upsample], reflection pad k/2, conv.
class ConvLayer : public Module {
  public:
    ConvLayer(Tensor weight, Tensor bias, int stride, int upsample = 1);
    Tensor forward(const Tensor& x) const override;
    std::string describe() const override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override;

  private:
    Conv2d conv2d_;
    int pad_, upsample_;
};

class TransformerNet : public Module {
  public:
    // From a state dict (pytorch/examples' .pth, or safetensors with the same names), on `device`.
    // `source` names the file in errors: a missing key, a wrong shape, an unexpected key (in*.running_mean
    // and running_var, which old files carry and no forward uses, are ignored).
    static TransformerNet from_weights(const weights::WeightFile& file, Device device, const std::string& source);
    // Freshly initialised as PyTorch would (conv weights and biases uniform in ±1/√fan_in, norm scale 1
    // and shift 0), from `seed`; styles 0 for instance norm, S for conditional instance norm with S rows.
    // dtype F64 (CPU only) is for gradient checks of the whole network.
    static TransformerNet random(uint64_t seed, int styles = 0, Device device = Device::cpu(),
                                 std::vector<int64_t> widths = {32, 64, 128}, DType dtype = DType::F32);

    Tensor forward(const Tensor& x) const override;
    std::string describe() const override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
    weights::WeightFile state_dict() const;  // the parameters on the host, by their names

    int styles() const { return styles_; }  // 0: the plain network
    // The style weights of a conditional network: (S) for every sample, or (N, S) per sample, on any
    // device; each row is normalised to sum 1 by the caller's choice (set as given). Throws on a plain
    // network or a wrong size.
    void set_style_mix(const Tensor& alpha);

  private:
    TransformerNet() = default;
    void build(const std::vector<std::pair<std::string, Tensor>>& params, int styles, Device device);

    Sequential net_;  // conv1, in1, relu, ... deconv3 (the residual blocks as modules of their own)
    int styles_ = 0;
    Device device_ = Device::cpu();
    Tensor alpha_;                 // the style weights as set: (S) or (N, S), on device_
    std::shared_ptr<Tensor> mix_;  // alpha_ as (N, S) for the current batch; shared with the conditional norms
};

}  // namespace nst
