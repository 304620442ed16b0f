// conv2d and conv2d_relu ops: argument checks, kernel dispatch, backward. Derivations: docs/backprop.md#conv2d,
// #conv2d-relu.
#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_kernels.h"

namespace nst {

namespace {
ConvShape weight_shape(const Tensor& w, int stride, int pad) {
    ConvShape s;
    s.K = int(w.dim(0)); s.C = int(w.dim(1)); s.R = int(w.dim(2)); s.S = int(w.dim(3));
    s.stride_h = s.stride_w = stride;
    s.pad_h = s.pad_w = pad;
    return s;
}
}  // namespace

PreparedConvWeights prepare_conv2d_weights(const Tensor& w, int stride, int pad) {
    check_defined(w, "prepare_conv2d_weights", "w");
    check_ndim(w, 4, "prepare_conv2d_weights", "w");
    PreparedConvWeights p;
    if (w.dtype() != DType::F32) return p;
    p.kernel = &conv2d_kernels(w.device());
    const ConvShape s = weight_shape(w, stride, pad);
    if (!p.kernel->prepare || p.kernel->prepared_size(s) == 0) return p;
    p.data = Tensor::empty({p.kernel->prepared_size(s)}, DType::F32, w.device());
    p.kernel->prepare(w.data<float>(), p.data.data<float>(), s);
    return p;
}

namespace {
Tensor conv2d_op(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, const PreparedConvWeights* prepared,
                 bool relu) {
    const char* op = relu ? "conv2d_relu" : "conv2d";
    check_defined(x, op, "x");
    check_defined(w, op, "w");
    check_float(x, op);
    check_ndim(x, 4, op, "x");
    check_ndim(w, 4, op, "w");
    check_same_device(x, w, op);
    check_same_dtype(x, w, op);
    if (x.numel() == 0 || w.numel() == 0) throw Error(std::string(op) + ": empty tensor: x " + x.str() + ", w " + w.str());
    if (w.dim(1) != x.dim(1))
        throw Error(std::string(op) + ": input " + x.str() + " has " + std::to_string(x.dim(1)) + " channels but weight " +
                    w.str() + " expects " + std::to_string(w.dim(1)));
    if (b.defined()) {
        check_same_device(x, b, op);
        check_same_dtype(x, b, op);
        if (b.ndim() != 1 || b.dim(0) != w.dim(0))
            throw Error(std::string(op) + ": bias " + b.str() + " must have shape [" + std::to_string(w.dim(0)) + "]");
    }
    if (stride < 1 || pad < 0)
        throw Error(std::string(op) + ": stride must be >= 1 and pad >= 0, got stride " + std::to_string(stride) + ", pad " +
                    std::to_string(pad));
    ConvShape s = weight_shape(w, stride, pad);
    s.N = int(x.dim(0)); s.H = int(x.dim(2)); s.W = int(x.dim(3));
    if (s.H + 2 * pad < s.R || s.W + 2 * pad < s.S)
        throw Error(std::string(op) + ": kernel " + std::to_string(s.R) + "x" + std::to_string(s.S) + " is larger than the padded input " +
                    x.str());

    s.relu = relu;
    Tensor y = Tensor::empty({s.N, s.K, s.P(), s.Q()}, x.dtype(), x.device());
    const bool f64 = x.dtype() == DType::F64;
    const Conv2dVariant* kv = f64 ? nullptr : &conv2d_kernels(x.device());
    // Prepared weights count only if the kernel dispatch picks now made them, for this very shape.
    const Tensor pw = (!f64 && prepared && prepared->kernel == kv && prepared->data.defined() &&
                       prepared->data.numel() == kv->prepared_size(s) && prepared->data.device() == x.device())
                          ? prepared->data
                          : Tensor();
    const float* bias = (!f64 && b.defined()) ? b.data<float>() : nullptr;
    if (f64)
        cpu::conv2d_forward<double>(x.data<double>(), w.data<double>(), b.defined() ? b.data<double>() : nullptr,
                                    y.data<double>(), s);
    else if (pw.defined())
        kv->forward_prepared(x.data<float>(), pw.data<float>(), bias, y.data<float>(), s);
    else
        kv->forward(x.data<float>(), w.data<float>(), bias, y.data<float>(), s);

    // Save only what the needed gradients read: dx needs w, dw needs x, db needs neither. With frozen
    // weights the input activation is not kept alive by this node. The fused ReLU's mask comes from y
    // (y > 0 exactly where the pre-activation is), as the relu op's does.
    const Tensor xs = w.requires_grad() ? x.detach() : Tensor();
    const Tensor ws = x.requires_grad() ? w.detach() : Tensor();
    const Tensor ys = relu ? y.detach() : Tensor();
    const ReluVariant* rv = (relu && !f64) ? &relu_kernels(x.device()) : nullptr;
    s.relu = false;  // the backward kernels see the plain conv
    autograd::record(y, op, {&x, &w, &b}, [xs, ws, ys, pw, s, kv, rv](const Tensor& upstream, const Node& self) {
        std::vector<Tensor> grads(3);
        const bool f64 = upstream.dtype() == DType::F64;
        const Device d = upstream.device();
        // g = dL/d(pre-activation): the upstream gradient where y > 0 (relu's backward), else upstream itself;
        // masked in place where the engine holds the only reference (BackwardFn), so a fused layer's backward
        // needs no more memory than conv then relu (whose relu backward frees the upstream before the conv's).
        const bool in_place = upstream.sole_owner();  // asked before g below takes a second handle
        Tensor g = (ys.defined() && !in_place) ? Tensor::empty(upstream.shape(), upstream.dtype(), d) : upstream;
        if (ys.defined()) {  // elementwise, so dx may alias dy (every relu backward kernel allows it)
            if (f64) cpu::relu_backward<double>(ys.data<double>(), upstream.data<double>(), g.data<double>(), ys.numel());
            else rv->backward(ys.data<float>(), upstream.data<float>(), g.data<float>(), ys.numel());
        }
        if (self.needs_grad(0)) {
            grads[0] = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), d);
            if (f64) cpu::conv2d_backward_data<double>(g.data<double>(), ws.data<double>(), grads[0].data<double>(), s);
            else if (pw.defined()) kv->backward_data_prepared(g.data<float>(), pw.data<float>(), grads[0].data<float>(), s);
            else kv->backward_data(g.data<float>(), ws.data<float>(), grads[0].data<float>(), s);
        }
        if (self.needs_grad(1)) {
            grads[1] = Tensor::empty({s.K, s.C, s.R, s.S}, g.dtype(), d);
            if (f64) cpu::conv2d_backward_weight<double>(xs.data<double>(), g.data<double>(), grads[1].data<double>(), s);
            else kv->backward_weight(xs.data<float>(), g.data<float>(), grads[1].data<float>(), s);
        }
        if (self.needs_grad(2)) {
            grads[2] = Tensor::empty({s.K}, g.dtype(), d);
            if (f64) cpu::conv2d_backward_bias<double>(g.data<double>(), grads[2].data<double>(), s);
            else kv->backward_bias(g.data<float>(), grads[2].data<float>(), s);
        }
        return grads;
    });
    return y;
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad) {
    return conv2d_op(x, w, b, stride, pad, nullptr, false);
}
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, const PreparedConvWeights* prepared) {
    return conv2d_op(x, w, b, stride, pad, prepared, false);
}
Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, const PreparedConvWeights* prepared) {
    return conv2d_op(x, w, b, stride, pad, prepared, true);
}

}  // namespace nst
