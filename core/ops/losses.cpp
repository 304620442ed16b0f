// The scalar losses Gatys-style transfer is built from: sum of squares, MSE, total variation.
// Their backward kernels read the upstream gradient from device memory (no host round trip).
// Derivations: docs/backprop.md#losses.
#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/vector_kernels.h"

namespace nst {

using detail::visit_vector_kernels;

Tensor sum_squares(const Tensor& x) {
    check_defined(x, "sum_squares", "x");
    check_float(x, "sum_squares");
    Tensor y = Tensor::empty({}, x.dtype(), x.device());
    visit_vector_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.sum_squares(x.data<T>(), x.numel(), y.data<T>());
    });
    autograd::record(y, "sum_squares", {&x}, [xs = x.detach()](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xs.shape(), g.dtype(), g.device());
        visit_vector_kernels(g, [&](auto t, const auto& k) {
            using T = decltype(t);
            k.sum_squares_backward(xs.data<T>(), g.data<T>(), xs.numel(), dx.data<T>());
        });
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor mse(const Tensor& a, const Tensor& b) {
    const char* op = "mse";
    check_defined(a, op, "a");
    check_defined(b, op, "b");
    check_float(a, op);
    check_same_device(a, b, op);
    check_same_dtype(a, b, op);
    check_same_shape(a, b, op);
    if (a.numel() == 0) throw Error("mse: empty tensors " + a.str());
    Tensor y = Tensor::empty({}, a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.mse(a.data<T>(), b.data<T>(), a.numel(), y.data<T>());
    });
    autograd::record(y, op, {&a, &b}, [as = a.detach(), bs = b.detach()](const Tensor& g, const Node& self) {
        Tensor da = Tensor::empty(as.shape(), g.dtype(), g.device());
        visit_vector_kernels(g, [&](auto t, const auto& k) {
            using T = decltype(t);
            k.mse_backward(as.data<T>(), bs.data<T>(), g.data<T>(), as.numel(), da.data<T>());
        });
        // d/db = -d/da
        return std::vector<Tensor>{self.needs_grad(0) ? da : Tensor(), self.needs_grad(1) ? scale(da, -1.0) : Tensor()};
    });
    return y;
}

Tensor total_variation(const Tensor& x) {
    check_defined(x, "total_variation", "x");
    check_float(x, "total_variation");
    check_ndim(x, 4, "total_variation", "x");
    const ImageShape s{int(x.dim(0)), int(x.dim(1)), int(x.dim(2)), int(x.dim(3))};
    Tensor y = Tensor::empty({}, x.dtype(), x.device());
    visit_vector_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.tv(x.data<T>(), s, y.data<T>());
    });
    autograd::record(y, "total_variation", {&x}, [xs = x.detach(), s](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xs.shape(), g.dtype(), g.device());
        visit_vector_kernels(g, [&](auto t, const auto& k) {
            using T = decltype(t);
            k.tv_backward(xs.data<T>(), g.data<T>(), s, dx.data<T>());
        });
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace nst
