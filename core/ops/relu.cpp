// relu op. Derivation: docs/backprop.md#relu.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include <cstdint>

namespace nst {

Tensor relu(const Tensor& x) {
    check_defined(x, "relu", "x");
    check_float(x, "relu");
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    const int64_t n = x.numel();
    const bool f64 = x.dtype() == DType::F64;
    const ReluVariant* kv = f64 ? nullptr : &relu_kernels(x.device());
    if (f64)
        cpu::relu_forward<double>(x.data<double>(), y.data<double>(), n);
    else
        kv->forward(x.data<float>(), y.data<float>(), n);
    // The mask comes from the output, so the input (a conv output) need not be kept.
    autograd::record(y, "relu", {&x}, [ys = y.detach(), n, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
        if (!kv)
            cpu::relu_backward<double>(ys.data<double>(), g.data<double>(), dx.data<double>(), n);
        else
            kv->backward(ys.data<float>(), g.data<float>(), dx.data<float>(), n);
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace nst
