// Elementwise arithmetic and sum. Same-shape operands only: no broadcasting, so every shape mismatch is
// an error rather than a silent expansion. Derivations: docs/backprop.md#elementwise.
#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/vector_kernels.h"

namespace nst {

using detail::visit_vector_kernels;

namespace {
void check_binary(const Tensor& a, const Tensor& b, const char* op) {
    check_defined(a, op, "a");
    check_defined(b, op, "b");
    check_float(a, op);
    check_same_device(a, b, op);
    check_same_dtype(a, b, op);
    check_same_shape(a, b, op);
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
    check_binary(a, b, "add");
    Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.add(a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
    });
    autograd::record(y, "add", {&a, &b}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g, g}; });
    return y;
}

Tensor scale(const Tensor& a, double s) {
    check_defined(a, "scale", "a");
    check_float(a, "scale");
    Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.scale(a.data<T>(), T(s), y.data<T>(), a.numel());
    });
    autograd::record(y, "scale", {&a}, [s](const Tensor& g, const Node&) { return std::vector<Tensor>{scale(g, s)}; });
    return y;
}

Tensor sub(const Tensor& a, const Tensor& b) {
    check_binary(a, b, "sub");
    Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.sub(a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
    });
    autograd::record(y, "sub", {&a, &b}, [](const Tensor& g, const Node& self) {
        return std::vector<Tensor>{g, self.needs_grad(1) ? scale(g, -1.0) : Tensor()};
    });
    return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
    check_binary(a, b, "mul");
    Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.mul(a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
    });
    const Tensor as = b.requires_grad() ? a.detach() : Tensor(), bs = a.requires_grad() ? b.detach() : Tensor();
    autograd::record(y, "mul", {&a, &b}, [as, bs](const Tensor& g, const Node& self) {
        return std::vector<Tensor>{self.needs_grad(0) ? mul(g, bs) : Tensor(), self.needs_grad(1) ? mul(g, as) : Tensor()};
    });
    return y;
}

Tensor sum(const Tensor& a) {
    check_defined(a, "sum", "a");
    check_float(a, "sum");
    Tensor y = Tensor::empty({}, a.dtype(), a.device());
    visit_vector_kernels(a, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.sum(a.data<T>(), a.numel(), y.data<T>());
    });
    autograd::record(y, "sum", {&a}, [shape = a.shape()](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(shape, g.dtype(), g.device());
        visit_vector_kernels(g, [&](auto t, const auto& k) {
            using T = decltype(t);
            k.fill_scaled(g.data<T>(), T(1), dx.data<T>(), dx.numel());
        });
        return std::vector<Tensor>{dx};
    });
    return y;
}

void add_into(Tensor& y, const Tensor& g) {
    check_binary(y, g, "add_into");
    visit_vector_kernels(y, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.add(y.data<T>(), g.data<T>(), y.data<T>(), y.numel());
    });
}

}  // namespace nst
