// gram op: the style statistic. Derivation: docs/backprop.md#gram.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_kernels.h"

namespace nst {

Tensor gram(const Tensor& x) {
    check_defined(x, "gram", "x");
    check_float(x, "gram");
    check_ndim(x, 4, "gram", "x");
    GramShape s;
    s.N = int(x.dim(0));
    s.C = int(x.dim(1));
    s.HW = x.dim(2) * x.dim(3);
    if (x.numel() == 0) throw Error("gram: empty feature map " + x.str());
    Tensor g = Tensor::empty({s.N, s.C, s.C}, x.dtype(), x.device());
    const bool f64 = x.dtype() == DType::F64;
    const GramVariant* kv = f64 ? nullptr : &gram_kernels(x.device());
    if (f64)
        cpu::gram_forward<double>(x.data<double>(), g.data<double>(), s);
    else
        kv->forward(x.data<float>(), g.data<float>(), s);
    autograd::record(g, "gram", {&x}, [xs = x.detach(), s, kv](const Tensor& dg, const Node&) {
        Tensor dx = Tensor::empty(xs.shape(), dg.dtype(), dg.device());
        if (!kv)
            cpu::gram_backward<double>(xs.data<double>(), dg.data<double>(), dx.data<double>(), s);
        else
            kv->backward(xs.data<float>(), dg.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return g;
}

}  // namespace nst
