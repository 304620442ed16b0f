// An ONNX graph run with the framework's own ops, on the CPU or a GPU, differentiable like any network
// here. Loading splits the graph in two:
//  - host nodes: everything that does not depend on the image input (shape arithmetic, a style vector
//    mixing rows of scale and shift, int8 weights dequantized). Those whose inputs are all constants are
//    folded at load; the rest (they read another graph input, e.g. `style_weights`) run on the host once
//    per forward (layers/onnx_host_ops).
//  - image nodes: lowered onto core ops. Conv (constant weights) -> conv2d, Pad reflect ->
//    reflection_pad2d, Resize nearest/asymmetric/floor -> resize_nearest, Relu, Sigmoid, Add/Sub/Mul of two
//    image tensors of one shape, InstanceNormalization -> instance_norm; and the instance norm an exporter
//    spells out (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div or Reciprocal, Mul, then an optional
//    per-channel scale and shift) is recognised and run as one instance_norm with a per-sample affine.
//    Int8 QDQ graphs (tf2onnx's conversions of TFLite networks): QuantizeLinear and DequantizeLinear of an
//    image value with one scale and zero point -> quantize_linear / dequantize_linear (the integers held as
//    floats, so the picture is computed as the int8 network computes it); GlobalAveragePool -> spatial_mean,
//    brought to the host (a (N,C,1,1) value: the statistics arithmetic after it runs there, and carries no
//    gradient); Add, Sub, Mul of an image and a per-channel host value -> channel_affine.
// Any other op, or an attribute outside what these ops do, is an nst::Error naming the node and the op.
// Device tensors are freed after their last use, so memory follows the widest point of the graph.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/modules.h"
#include "layers/onnx_host_ops.h"
#include "weights/onnx_model.h"

namespace nst {

class OnnxNet {
  public:
    // `image_input`: the graph input that carries the picture; empty picks the one 4-D float input that is
    // not a (1,1,1,K) vector. A graph
    // whose picture is channels-last (declared (N,H,W,3), as TensorFlow's converted networks are) still takes
    // and returns (N,C,H,W) here: its values are tracked as channels-last until a Transpose (0,3,1,2) makes
    // them channels-first, which costs nothing, and a Transpose (0,2,3,1) before the output likewise.
    OnnxNet(weights::OnnxModel model, Device device, const std::string& image_input = "");

    // The graph's first output for `image` (on device()) and the other graph inputs as host arrays.
    Tensor forward(const Tensor& image, const std::map<std::string, OnnxTensor>& host_inputs = {}) const;

    const std::string& image_input() const { return image_input_; }
    const std::vector<weights::OnnxValueInfo>& host_inputs() const { return host_inputs_; }
    int multiple() const { return multiple_; }  // the product of the image convs' strides
    // How far, in input pixels, a tile's edge reaches into the output (a bound, exact for TransformerNet's
    // layers): what a tile's halo must cover when tiles are aligned to multiple()
    // (stylize/tiled_style_network.h). Found by a forward on `probe` that follows, per value, the pixels R
    // at each end that an edge touches: a conv of stride s and pad p makes ceil((R + p) / s), a Pad adds its
    // growth, a Resize scales R by its factor, pointwise steps keep it. An Error when a step defeats tiling
    // (a Resize that shrinks; an output not at the input's size).
    double edge_reach(const Tensor& probe, const std::map<std::string, OnnxTensor>& host_inputs = {}) const;
    Device device() const { return device_; }
    const weights::OnnxModel& model() const { return model_; }
    // "ONNX opset 17 from pytorch 2.4.1: 18 Conv, 18 InstanceNorm (fused), ..." in graph order of first use.
    std::string describe() const;

    // Time per op kind (the device synchronised after each step) while on; for benchmarks.
    void set_profiling(bool on) const { profiling_ = on; }
    void reset_profile() const { profile_.clear(); }
    const std::map<std::string, std::pair<double, int>>& profile() const { return profile_; }  // kind -> (seconds, steps)

  private:
    enum class Kind { Host, Shape, Conv, Pad, Resize, Relu, Sigmoid, Add, Sub, Mul, InstanceNorm, Clamp0,
                      Quantize, Dequantize, Transpose, GlobalMean, Affine };
    struct Step {
        Step(Kind k, size_t nd, std::vector<std::string> i, std::string o) : kind(k), node(nd), in(std::move(i)), out(std::move(o)) {}
        Kind kind;
        size_t node;                    // the node whose output this step makes (the last of a fused group)
        std::vector<std::string> in;    // image inputs first; host inputs by name
        std::string out;
        std::string gamma, beta, eps;   // InstanceNorm: host values (gamma/beta may be empty)
        double factor = 1.0;            // InstanceNorm: a constant the exporter multiplied in
        double eps_value = 0;           // InstanceNorm: epsilon when it is an attribute (eps empty)
        int conv = -1;                  // Conv: index into convs_
        int host_operand = -1;          // Affine: which input of the Add/Sub/Mul is the host value
    };

    void compile();
    bool match_instance_norm(size_t reduce_node);
    void lower_image_node(size_t k);
    void note_last_uses();
    const OnnxTensor& host_value(const std::string& name, const std::map<std::string, OnnxTensor>& runtime) const;

    weights::OnnxModel model_;
    Device device_;
    std::string image_input_;
    std::vector<weights::OnnxValueInfo> host_inputs_;
    std::map<std::string, OnnxTensor> folded_;           // constants: initializers and folded nodes
    std::map<std::string, bool> is_image_;                // values that depend on the image
    std::map<std::string, bool> nhwc_;                    // image values the graph holds channels-last (stored NCHW)
    std::map<std::string, std::vector<size_t>> users_;    // value -> nodes reading it
    std::vector<bool> done_;                              // nodes folded or fused away
    std::vector<Step> steps_;
    std::map<size_t, Step> pending_;                      // fused steps by the node they finish at
    std::vector<std::vector<std::string>> free_after_;    // per step: device values last used there
    std::vector<std::unique_ptr<Conv2d>> convs_;
    int multiple_ = 1;
    mutable bool profiling_ = false;
    mutable std::map<std::string, double>* reach_ = nullptr;  // edge_reach's per-value reach, while it runs
    mutable std::map<std::string, std::pair<double, int>> profile_;
};

}  // namespace nst
