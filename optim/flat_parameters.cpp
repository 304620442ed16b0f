// FlatParameters (contract in flat_parameters.h): byte copies between each parameter and its range of the
// flat buffers, on whatever device holds them.
#include "optim/flat_parameters.h"

#include <string>
#include <utility>

#include "base/device.h"

namespace nst {

FlatParameters::FlatParameters(std::vector<Tensor> params) : params_(std::move(params)) {
    if (params_.empty()) throw Error("FlatParameters: no parameters");
    const Device d = params_.front().device();
    int64_t n = 0;
    for (const Tensor& p : params_) {
        check_defined(p, "FlatParameters", "parameter");
        if (p.dtype() != DType::F32 || p.device() != d)
            throw Error("FlatParameters: parameters must be float32 on one device; got " + p.str() + " beside " +
                        params_.front().str());
        offsets_.push_back(n);
        n += p.numel();
    }
    values_ = Tensor::zeros({n}, DType::F32, d);
    grads_ = Tensor::zeros({n}, DType::F32, d);
    gather_values();
}

void FlatParameters::gather_values() {
    const bool cuda = values_.device().is_cuda();
    for (size_t i = 0; i < params_.size(); ++i)
        copy_bytes(values_.data<float>() + offsets_[i], cuda, params_[i].raw_data(), cuda, params_[i].nbytes());
}

void FlatParameters::gather_gradients() {
    const bool cuda = grads_.device().is_cuda();
    for (size_t i = 0; i < params_.size(); ++i) {
        float* dst = grads_.data<float>() + offsets_[i];
        const Tensor g = params_[i].grad();
        if (g.defined()) {
            copy_bytes(dst, cuda, g.raw_data(), g.device().is_cuda(), params_[i].nbytes());
        } else {  // a parameter the loss does not reach: zero gradient
            zero_bytes(dst, cuda, params_[i].nbytes());
        }
    }
}

void FlatParameters::scatter_values() {
    const bool cuda = values_.device().is_cuda();
    for (size_t i = 0; i < params_.size(); ++i)
        copy_bytes(params_[i].raw_data(), cuda, values_.data<float>() + offsets_[i], cuda, params_[i].nbytes());
}

}  // namespace nst
