// max_pool2d and avg_pool2d ops. Derivation: docs/backprop.md#pooling.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include <cstdint>

namespace nst {

namespace {

PoolShape pool_shape(const Tensor& x, int kernel, int stride, int pad, const char* op) {
    check_defined(x, op, "x");
    check_float(x, op);
    check_ndim(x, 4, op, "x");
    if (x.numel() == 0) throw Error(std::string(op) + ": empty tensor " + x.str());
    if (kernel < 1 || stride < 1 || pad < 0 || 2 * pad > kernel)
        throw Error(std::string(op) + ": need kernel >= 1, stride >= 1, 0 <= pad <= kernel/2; got kernel " +
                    std::to_string(kernel) + ", stride " + std::to_string(stride) + ", pad " + std::to_string(pad));
    PoolShape s;
    s.N = int(x.dim(0)); s.C = int(x.dim(1)); s.H = int(x.dim(2)); s.W = int(x.dim(3));
    s.R = s.S = kernel;
    s.stride_h = s.stride_w = stride;
    s.pad_h = s.pad_w = pad;
    if (s.H + 2 * pad < kernel || s.W + 2 * pad < kernel)
        throw Error(std::string(op) + ": window " + std::to_string(kernel) + " is larger than the padded input " + x.str());
    return s;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int pad) {
    const char* op = "max_pool2d";
    const PoolShape s = pool_shape(x, kernel, stride, pad, op);
    Tensor y = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.dtype(), x.device());
    const bool f64 = x.dtype() == DType::F64;
    const PoolVariant* kv = f64 ? nullptr : &max_pool_kernels(x.device());
    // The winners' indices, when the variant's backward wants them (the reference and own kernels do).
    Tensor argmax = (f64 || kv->uses_argmax) ? Tensor::empty(y.shape(), DType::I32, x.device()) : Tensor();
    int32_t* am = argmax.defined() ? argmax.data<int32_t>() : nullptr;
    if (f64)
        cpu::max_pool_forward<double>(x.data<double>(), y.data<double>(), am, s);
    else
        kv->forward(x.data<float>(), y.data<float>(), am, s);

    const bool need_xy = !argmax.defined();  // a library backward re-derives winners from x and y
    const Tensor xs = need_xy ? x.detach() : Tensor(), ys = need_xy ? y.detach() : Tensor();
    autograd::record(y, op, {&x}, [xs, ys, argmax, s, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
        if (!kv)
            cpu::max_pool_backward<double>(nullptr, argmax.data<int32_t>(), g.data<double>(), dx.data<double>(), s);
        else
            kv->backward(xs.defined() ? xs.data<float>() : nullptr, ys.defined() ? ys.data<float>() : nullptr,
                         argmax.defined() ? argmax.data<int32_t>() : nullptr, g.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int pad) {
    const char* op = "avg_pool2d";
    const PoolShape s = pool_shape(x, kernel, stride, pad, op);
    Tensor y = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.dtype(), x.device());
    const bool f64 = x.dtype() == DType::F64;
    const PoolVariant* kv = f64 ? nullptr : &avg_pool_kernels(x.device());
    if (f64)
        cpu::avg_pool_forward<double>(x.data<double>(), y.data<double>(), s);
    else
        kv->forward(x.data<float>(), y.data<float>(), nullptr, s);

    const bool lib = kv && kv->library;  // cuDNN's backward asks for x and y; the average itself does not
    const Tensor xs = lib ? x.detach() : Tensor(), ys = lib ? y.detach() : Tensor();
    autograd::record(y, op, {&x}, [xs, ys, s, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
        if (!kv)
            cpu::avg_pool_backward<double>(g.data<double>(), dx.data<double>(), s);
        else
            kv->backward(xs.defined() ? xs.data<float>() : nullptr, ys.defined() ? ys.data<float>() : nullptr, nullptr,
                         g.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace nst
