// Modules: the layers a network is assembled from. A module owns its (frozen or trainable) parameters
// as Tensors and maps an input Tensor to an output Tensor through the differentiable ops of core/ops.h,
// so autograd comes for free.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"

namespace nst {

class Module {
  public:
    virtual ~Module() = default;
    virtual Tensor forward(const Tensor& x) const = 0;
    virtual std::string describe() const = 0;
    // The module's tensors by PyTorch state-dict name ("weight", "conv1.conv2d.bias", ...), its
    // sub-modules' prefixed with their names; the tensors themselves (shared storage), so an optimiser
    // updating them updates the module.
    virtual std::vector<std::pair<std::string, Tensor>> named_parameters() const { return {}; }
    std::vector<Tensor> parameters() const;  // named_parameters()' tensors, in that order
    void zero_grad() const;                  // clears the gradient of every parameter
};

// named_parameters() of `m` with "prefix." before each name: for containers.
void append_parameters(std::vector<std::pair<std::string, Tensor>>& out, const std::string& prefix, const Module& m);

class Conv2d : public Module {
  public:
    // weight (K,C,R,S) and bias (K) or undefined; they keep whatever requires_grad they have.
    // Frozen weights (requires_grad false) are prepared for the conv kernel on the first forward and
    // again whenever dispatch picks another kernel (core/ops.h, PreparedConvWeights); a module whose
    // frozen weight values are changed in place afterwards must be rebuilt. relu: the ReLU that follows
    // runs in the conv kernel's epilogue (conv2d_relu), with a FusedReLU standing in for its layer.
    Conv2d(Tensor weight, Tensor bias, int stride = 1, int pad = 0, bool relu = false);
    Tensor forward(const Tensor& x) const override;
    std::string describe() const override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
    const Tensor& weight() const { return weight_; }
    const Tensor& bias() const { return bias_; }

  private:
    Tensor weight_, bias_;
    int stride_, pad_;
    bool relu_;
    mutable PreparedConvWeights prepared_;  // a cache: not thread-safe, like the rest of a forward
};

class ReLU : public Module {
  public:
    Tensor forward(const Tensor& x) const override { return relu(x); }
    std::string describe() const override { return "ReLU"; }
};

// A ReLU that the conv before it already applied in its epilogue (Conv2d with relu): passes its input on,
// so that the layer keeps its name and can still be tapped.
class FusedReLU : public Module {
  public:
    explicit FusedReLU(std::string conv) : conv_(std::move(conv)) {}
    Tensor forward(const Tensor& x) const override { return x; }
    std::string describe() const override { return "ReLU (in " + conv_ + "'s epilogue)"; }

  private:
    std::string conv_;
};

class MaxPool2d : public Module {
  public:
    explicit MaxPool2d(int kernel = 2, int stride = 2, int pad = 0) : k_(kernel), s_(stride), p_(pad) {}
    Tensor forward(const Tensor& x) const override { return max_pool2d(x, k_, s_, p_); }
    std::string describe() const override;

  private:
    int k_, s_, p_;
};

class AvgPool2d : public Module {
  public:
    explicit AvgPool2d(int kernel = 2, int stride = 2, int pad = 0) : k_(kernel), s_(stride), p_(pad) {}
    Tensor forward(const Tensor& x) const override { return avg_pool2d(x, k_, s_, p_); }
    std::string describe() const override;

  private:
    int k_, s_, p_;
};

// Named modules applied in order. forward_taps returns the outputs of the named layers and stops after
// the last one asked for.
class Sequential : public Module {
  public:
    void add(std::string name, std::unique_ptr<Module> m);
    Tensor forward(const Tensor& x) const override;
    std::vector<std::pair<std::string, Tensor>> forward_taps(const Tensor& x, const std::vector<std::string>& taps) const;
    std::string describe() const override;
    std::vector<std::pair<std::string, Tensor>> named_parameters() const override;
    size_t size() const { return layers_.size(); }
    const std::vector<std::pair<std::string, std::unique_ptr<Module>>>& layers() const { return layers_; }

  private:
    std::vector<std::pair<std::string, std::unique_ptr<Module>>> layers_;
};

}  // namespace nst
