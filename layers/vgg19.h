// VGG-19 (Simonyan & Zisserman 2014) as style transfer uses it: the convolutional part only, with every
// layer addressable by name (conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..., relu5_4, pool5).
// The network is built only up to the deepest tap asked for; its weights are uploaded to the device once
// and frozen (no gradient buffers, no weight-gradient kernels). Pooling is max (the original) or average
// (Gatys et al. found it gives slightly smoother results).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/modules.h"
#include "weights/vgg19_weights.h"

namespace nst {

// Whether a VGG19 built from now on runs each ReLU in its conv's epilogue (conv2d_relu; a conv that is
// itself a tap keeps a separate ReLU). On by default; NST_FUSE_RELU=0 or set_vgg_fuse_relu(false) turns it
// off, for comparing the two (the results are equal to the bit).
bool vgg_fuse_relu();
void set_vgg_fuse_relu(bool on);

enum class Pooling { Max, Avg };
Pooling parse_pooling(const std::string& s);  // "max" | "avg"

class VGG19 {
  public:
    VGG19(const weights::Vgg19Weights& w, Device device, const std::vector<std::string>& taps, Pooling pooling = Pooling::Max);

    // x is the preprocessed input (N,3,H,W) on the network's device. Returns the taps, in network order.
    std::vector<std::pair<std::string, Tensor>> forward(const Tensor& x) const;

    // rgb is (N,3,H,W) float32 in 0..1, RGB, on any device; the result is on the same device, in the
    // weights' input convention. deprocess is the inverse.
    Tensor preprocess(const Tensor& rgb) const;
    Tensor deprocess(const Tensor& x) const;

    const weights::InputConvention& convention() const { return convention_; }
    Device device() const { return device_; }
    const Sequential& layers() const { return net_; }
    const std::vector<std::string>& taps() const { return taps_; }

    // All 37 layer names in order, and the index of one (throws, listing valid names, if unknown).
    static const std::vector<std::string>& layer_names();
    static size_t layer_index(const std::string& name);

  private:
    Sequential net_;
    weights::InputConvention convention_;
    Device device_;
    std::vector<std::string> taps_;
};

}  // namespace nst
