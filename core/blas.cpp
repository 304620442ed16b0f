// BLAS-1 on tensors (contract in blas.h).
#include "core/blas.h"

#include "core/autograd.h"
#include "core/ops/vector_kernels.h"

namespace nst::blas {

using detail::visit_blas1_kernels;

namespace {
void check_vec(const Tensor& x, const char* op) {
    check_defined(x, op, "x");
    check_float(x, op);
}
void check_writable(const Tensor& y, const char* op) {
    if (grad_enabled() && y.requires_grad())
        throw Error(std::string("blas::") + op + " would modify " + y.str() +
                    ", which requires grad, while grad mode is on: wrap the update in NoGradGuard");
}
void check_pair(const Tensor& x, const Tensor& y, const char* op) {
    check_vec(x, op);
    check_vec(y, op);
    check_same_device(x, y, op);
    check_same_dtype(x, y, op);
    if (x.numel() != y.numel()) throw Error(std::string("blas::") + op + ": sizes differ: " + x.str() + " and " + y.str());
}
}  // namespace

Tensor dot(const Tensor& x, const Tensor& y) {
    check_pair(x, y, "dot");
    Tensor out = Tensor::empty({}, x.dtype(), x.device());
    visit_blas1_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.dot(x.data<T>(), y.data<T>(), x.numel(), out.data<T>());
    });
    return out;
}

Tensor nrm2(const Tensor& x) {
    check_vec(x, "nrm2");
    Tensor out = Tensor::empty({}, x.dtype(), x.device());
    visit_blas1_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.nrm2(x.data<T>(), x.numel(), out.data<T>());
    });
    return out;
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
    check_pair(x, y, "axpy");
    check_writable(y, "axpy");
    visit_blas1_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.axpy(x.numel(), T(alpha), x.data<T>(), y.data<T>());
    });
}

void scal(double alpha, Tensor& x) {
    check_vec(x, "scal");
    check_writable(x, "scal");
    visit_blas1_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.scal(x.numel(), T(alpha), x.data<T>());
    });
}

}  // namespace nst::blas
