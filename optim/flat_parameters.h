// One flat buffer for a model's parameters and one for their gradients (Caffe's layout): an optimizer
// updates the whole model as one vector, a checkpoint saves it as one tensor, and one all-reduce covers the
// whole gradient (issue #25).
//
// Tensors here have no views, so the parameters keep their own storage and the buffers are copies:
// gather_gradients() copies every parameter's gradient into grads() (zeros where a parameter got none),
// scatter_values() copies values() back into the parameters. Each is one copy of the model (6.7 MB for
// TransformerNet at the paper's widths), small beside a training step.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace nst {

class FlatParameters {
  public:
    // params: float32, all on one device; values() starts as their current values.
    explicit FlatParameters(std::vector<Tensor> params);

    Tensor& values() { return values_; }  // (size()) on the parameters' device
    const Tensor& values() const { return values_; }
    const Tensor& grads() const { return grads_; }
    Tensor& grads() { return grads_; }
    int64_t size() const { return values_.numel(); }

    void gather_values();     // parameters -> values()
    void gather_gradients();  // parameters' gradients -> grads()
    void scatter_values();    // values() -> parameters

  private:
    std::vector<Tensor> params_;
    std::vector<int64_t> offsets_;
    Tensor values_, grads_;
};

}  // namespace nst
