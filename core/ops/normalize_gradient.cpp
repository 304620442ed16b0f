// normalize_gradient: an identity whose backward rescales the gradient to unit L1 norm (times a
// strength). Not a true derivative, hence no gradient check; tests check the rescaling itself.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"

namespace nst {

Tensor normalize_gradient(const Tensor& x, double strength) {
    check_defined(x, "normalize_gradient", "x");
    if (x.dtype() != DType::F32) throw Error("normalize_gradient: float32 only, got " + x.str());
    Tensor y = x.detach();
    autograd::record(y, "normalize_gradient", {&x}, [strength](const Tensor& g, const Node&) {
        const OptimVariant& k = optim_kernels(g.device());
        Tensor norm = Tensor::empty({}, DType::F32, g.device());
        Tensor dx = Tensor::empty(g.shape(), DType::F32, g.device());
        k.asum(g.data<float>(), g.numel(), norm.data<float>());
        k.scale_by_norm(g.data<float>(), norm.data<float>(), float(strength), g.numel(), dx.data<float>());
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace nst
