// The feed-forward style networks' ops (contracts in core/ops.h): instance normalisation and its
// conditional form's row mix, reflection padding, nearest-neighbour resizing, sigmoid, and the ONNX
// graphs' per-channel affine, spatial mean and quantisation. float32 runs the
// variant dispatch picks (core/dispatch.h, op "feedforward"), float64 the CPU reference. Derivations:
// docs/backprop.md ("Instance normalisation"). Also the statistics plan of core/norm_stats.h.
#include <cmath>
#include <string>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/norm_stats.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_kernels.h"

namespace nst {

namespace {

// The variant for x's device, or null for float64 (the CPU reference then).
const FeedForwardVariant* kernels_for(const Tensor& x) {
    return x.dtype() == DType::F64 ? nullptr : &feedforward_kernels(x.device());
}

// An optional (C) or (N,C) parameter of instance_norm: undefined, or on x's device and dtype.
void check_param(const Tensor& p, const Tensor& x, const char* arg, bool per_sample) {
    if (!p.defined()) return;
    check_same_device(x, p, "instance_norm");
    check_same_dtype(x, p, "instance_norm");
    const Shape want = per_sample ? Shape{x.dim(0), x.dim(1)} : Shape{x.dim(1)};
    if (p.shape() != want)
        throw Error(std::string("instance_norm: ") + arg + " " + p.str() + " must have shape " + shape_str(want) +
                    " for input " + x.str());
}

template <class T> const T* data_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

// The op itself; `stats_out`, when given, receives its (2, N·C) mean and invstd.
Tensor instance_norm_op(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor* stats_out) {
    check_defined(x, "instance_norm", "x");
    check_float(x, "instance_norm");
    check_ndim(x, 4, "instance_norm", "x");
    if (x.numel() == 0) throw Error("instance_norm: empty input " + x.str());
    if (!(eps > 0)) throw Error("instance_norm: eps must be > 0, got " + std::to_string(eps));
    const Tensor& shaped = weight.defined() ? weight : bias;
    const bool per_sample = shaped.defined() && shaped.ndim() == 2;
    check_param(weight, x, "weight", per_sample);
    check_param(bias, x, "bias", per_sample);
    const InstanceNormShape s{x.dim(0), x.dim(1), x.dim(2) * x.dim(3), per_sample};
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor stats = Tensor::empty({2, s.planes()}, x.dtype(), x.device());  // mean, then invstd
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv)
        cpu::instance_norm_forward<double>(x.data<double>(), data_or_null<double>(weight), data_or_null<double>(bias),
                                           y.data<double>(), stats.data<double>(), stats.data<double>() + s.planes(), s, eps);
    else
        kv->instance_norm_forward(x.data<float>(), data_or_null<float>(weight), data_or_null<float>(bias), y.data<float>(),
                                  stats.data<float>(), stats.data<float>() + s.planes(), s, eps);
    autograd::record(y, "instance_norm", {&x, &weight, &bias},
                     [xs = x.detach(), ws = weight.defined() ? weight.detach() : Tensor(), stats, s, kv](const Tensor& g, const Node& self) {
                         std::vector<Tensor> grads(3);
                         const Shape pshape = s.per_sample ? Shape{s.N, s.C} : Shape{s.C};
                         grads[0] = Tensor::empty(xs.shape(), g.dtype(), g.device());
                         if (self.needs_grad(1)) grads[1] = Tensor::empty(pshape, g.dtype(), g.device());
                         if (self.needs_grad(2)) grads[2] = Tensor::empty(pshape, g.dtype(), g.device());
                         if (!kv)
                             cpu::instance_norm_backward<double>(
                                 xs.data<double>(), data_or_null<double>(ws), stats.data<double>(),
                                 stats.data<double>() + s.planes(), g.data<double>(), grads[0].data<double>(),
                                 grads[1].defined() ? grads[1].data<double>() : nullptr,
                                 grads[2].defined() ? grads[2].data<double>() : nullptr, s);
                         else
                             kv->instance_norm_backward(xs.data<float>(), data_or_null<float>(ws), stats.data<float>(),
                                                        stats.data<float>() + s.planes(), g.data<float>(),
                                                        grads[0].data<float>(),
                                                        grads[1].defined() ? grads[1].data<float>() : nullptr,
                                                        grads[2].defined() ? grads[2].data<float>() : nullptr, s);
                         return grads;
                     });
    if (stats_out) *stats_out = stats;
    return y;
}

thread_local NormStatsPlan* t_plan = nullptr;

// x normalised with given per-plane statistics: the op run once for x's own (m_t, s_t), then again with
// the per-sample affine w' = w·s/s_t, b' = b + (m_t − m)·s·w, which is (x − m)·s·w + b; so every device
// and kernel variant serves, with no kernel of its own.
Tensor normalise_with(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const NormStats& given) {
    const int64_t N = x.dim(0), C = x.dim(1), P = N * C;
    if (int64_t(given.mean.size()) != P || int64_t(given.invstd.size()) != P)
        throw Error("instance_norm: the statistics plan gives " + std::to_string(given.mean.size()) + " planes for input " + x.str());
    Tensor stats;
    {
        NoGradGuard no_grad;
        instance_norm_op(x, {}, {}, eps, &stats);
    }
    const std::vector<double> st = stats.to_vector<double>();
    const auto host = [](const Tensor& t) { return t.defined() ? t.to_vector<double>() : std::vector<double>(); };
    const std::vector<double> w = host(weight), b = host(bias);
    const auto at = [&](const std::vector<double>& v, int64_t p, double none) {
        return v.empty() ? none : int64_t(v.size()) == P ? v[size_t(p)] : v[size_t(p % C)];
    };
    std::vector<double> w2(static_cast<size_t>(P)), b2(static_cast<size_t>(P));
    for (int64_t p = 0; p < P; ++p) {
        const double m_t = st[size_t(p)], s_t = st[size_t(P + p)], m = given.mean[size_t(p)], s = given.invstd[size_t(p)];
        const double wv = at(w, p, 1.0), bv = at(b, p, 0.0);
        w2[size_t(p)] = wv * s / s_t;
        b2[size_t(p)] = bv + (m_t - m) * s * wv;
    }
    const auto make = [&](const std::vector<double>& v) {
        if (x.dtype() == DType::F64) return Tensor::from_vector(v, {N, C}, x.device());
        return Tensor::from_vector(std::vector<float>(v.begin(), v.end()), {N, C}, x.device());
    };
    return instance_norm_op(x, make(w2), make(b2), eps, nullptr);
}

// Adds x's window (the plan's interior, at x's scale) into the plan's sums.
void collect_sums(const Tensor& x, NormStatsPlan& plan, double eps) {
    const NormStatsPlan::Window& win = plan.window();
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const auto scaled = [](int64_t v, int64_t size, int64_t input, const char* what) {
        if (input <= 0 || (v * size) % input != 0)
            throw Error(std::string("instance_norm: the statistics window's ") + what + " " + std::to_string(v) + " of a " +
                        std::to_string(input) + "-pixel tile is no whole pixel at this layer's " + std::to_string(size));
        return v * size / input;
    };
    const int64_t y0 = scaled(win.y0, H, win.input_h, "row"), h = scaled(win.h, H, win.input_h, "height");
    const int64_t x0 = scaled(win.x0, W, win.input_w, "column"), w = scaled(win.w, W, win.input_w, "width");
    NormSums& sums = *plan.collect();
    sums.eps = eps;
    if (sums.sum.empty()) sums.sum.assign(size_t(N * C), 0.0), sums.sumsq.assign(size_t(N * C), 0.0);
    if (int64_t(sums.sum.size()) != N * C) throw Error("instance_norm: the statistics sums have " + std::to_string(sums.sum.size()) +
                                                       " planes for input " + x.str());
    if (h <= 0 || w <= 0) return;
    Tensor part;
    {
        NoGradGuard no_grad;
        part = crop2d(x, y0, x0, h, w);
    }
    const std::vector<double> v = part.to_vector<double>();
    const size_t plane = size_t(h * w);
    for (size_t p = 0; p < size_t(N * C); ++p) {
        double s = 0, q = 0;
        for (size_t i = 0; i < plane; ++i) {
            const double a = v[p * plane + i];
            s += a, q += a * a;
        }
        sums.sum[p] += s, sums.sumsq[p] += q;
    }
    sums.count += double(plane);
}

}  // namespace

NormStatsPlan::NormStatsPlan(const std::vector<NormStats>* fixed, NormSums* collect, Window window)
    : fixed_(fixed), collect_(collect), window_(window) {
    static const std::vector<NormStats> none;
    if (!fixed_) fixed_ = &none;
    if (t_plan) throw Error("NormStatsPlan: a plan is already installed on this thread");
    t_plan = this;
}

NormStatsPlan::~NormStatsPlan() { t_plan = nullptr; }

NormStatsPlan* NormStatsPlan::current() { return t_plan; }

Tensor instance_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
    NormStatsPlan* plan = t_plan;
    if (!plan) return instance_norm_op(x, weight, bias, eps, nullptr);
    check_defined(x, "instance_norm", "x");
    check_ndim(x, 4, "instance_norm", "x");
    const int k = plan->take();
    const int fixed = int(plan->fixed().size());
    if (k < fixed) return normalise_with(x, weight, bias, eps, plan->fixed()[size_t(k)]);
    if (k == fixed && plan->collect()) {
        collect_sums(x, *plan, eps);
        throw NormStatsPlan::Stop{};
    }
    throw Error("instance_norm: norm " + std::to_string(k) + " of this pass is beyond the statistics plan (" +
                std::to_string(fixed) + " fixed)");
}

Tensor mix_rows(const Tensor& alpha, const Tensor& rows) {
    check_defined(alpha, "mix_rows", "alpha");
    check_defined(rows, "mix_rows", "rows");
    check_float(rows, "mix_rows");
    check_ndim(alpha, 2, "mix_rows", "alpha");
    check_ndim(rows, 2, "mix_rows", "rows");
    check_same_device(alpha, rows, "mix_rows");
    check_same_dtype(alpha, rows, "mix_rows");
    if (alpha.dim(1) != rows.dim(0))
        throw Error("mix_rows: alpha " + alpha.str() + " weighs " + std::to_string(alpha.dim(1)) + " rows, but rows " +
                    rows.str() + " has " + std::to_string(rows.dim(0)));
    const int64_t N = alpha.dim(0), S = rows.dim(0), C = rows.dim(1);
    Tensor out = Tensor::empty({N, C}, rows.dtype(), rows.device());
    const FeedForwardVariant* kv = kernels_for(rows);
    if (!kv) cpu::mix_rows<double>(alpha.data<double>(), rows.data<double>(), out.data<double>(), N, S, C);
    else kv->mix_rows(alpha.data<float>(), rows.data<float>(), out.data<float>(), N, S, C);
    // alpha is a constant (the style weights a user chose): only the rows get a gradient.
    autograd::record(out, "mix_rows", {&rows}, [as = alpha.detach(), N, S, C, kv](const Tensor& g, const Node&) {
        Tensor d = Tensor::empty({S, C}, g.dtype(), g.device());
        if (!kv) cpu::mix_rows_backward<double>(as.data<double>(), g.data<double>(), d.data<double>(), N, S, C);
        else kv->mix_rows_backward(as.data<float>(), g.data<float>(), d.data<float>(), N, S, C);
        return std::vector<Tensor>{d};
    });
    return out;
}

Tensor conditional_instance_norm(const Tensor& x, const Tensor& weight_rows, const Tensor& bias_rows,
                                 const Tensor& alpha, double eps) {
    check_defined(alpha, "conditional_instance_norm", "alpha");
    check_ndim(alpha, 2, "conditional_instance_norm", "alpha");
    check_defined(x, "conditional_instance_norm", "x");
    if (alpha.dim(0) != x.dim(0))
        throw Error("conditional_instance_norm: alpha " + alpha.str() + " has a row per sample, but x " + x.str() +
                    " has " + std::to_string(x.dim(0)) + " samples");
    return instance_norm(x, mix_rows(alpha, weight_rows), mix_rows(alpha, bias_rows), eps);
}

Tensor reflection_pad2d(const Tensor& x, int top, int bottom, int left, int right) {
    check_defined(x, "reflection_pad2d", "x");
    check_float(x, "reflection_pad2d");
    check_ndim(x, 4, "reflection_pad2d", "x");
    const int64_t H = x.dim(2), W = x.dim(3);
    if (top < 0 || bottom < 0 || left < 0 || right < 0 || top >= H || bottom >= H || left >= W || right >= W)
        throw Error("reflection_pad2d: pads (top " + std::to_string(top) + ", bottom " + std::to_string(bottom) +
                    ", left " + std::to_string(left) + ", right " + std::to_string(right) + ") must be >= 0 and less "
                    "than the side they mirror, for input " + x.str());
    const PadShape s{x.dim(0) * x.dim(1), H, W, top, bottom, left, right};
    Tensor y = Tensor::empty({x.dim(0), x.dim(1), s.Ho(), s.Wo()}, x.dtype(), x.device());
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::reflection_pad_forward<double>(x.data<double>(), y.data<double>(), s);
    else kv->reflection_pad_forward(x.data<float>(), y.data<float>(), s);
    autograd::record(y, "reflection_pad2d", {&x}, [xshape = x.shape(), s, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xshape, g.dtype(), g.device());
        if (!kv) cpu::reflection_pad_backward<double>(g.data<double>(), dx.data<double>(), s);
        else kv->reflection_pad_backward(g.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor resize_nearest(const Tensor& x, int64_t height, int64_t width) {
    check_defined(x, "resize_nearest", "x");
    check_float(x, "resize_nearest");
    check_ndim(x, 4, "resize_nearest", "x");
    if (height < 1 || width < 1 || x.numel() == 0)
        throw Error("resize_nearest: " + x.str() + " to " + std::to_string(height) + "x" + std::to_string(width) +
                    ": sizes must be >= 1");
    const ResizeShape s{x.dim(0) * x.dim(1), x.dim(2), x.dim(3), height, width};
    Tensor y = Tensor::empty({x.dim(0), x.dim(1), height, width}, x.dtype(), x.device());
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::resize_nearest_forward<double>(x.data<double>(), y.data<double>(), s);
    else kv->resize_nearest_forward(x.data<float>(), y.data<float>(), s);
    autograd::record(y, "resize_nearest", {&x}, [xshape = x.shape(), s, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xshape, g.dtype(), g.device());
        if (!kv) cpu::resize_nearest_backward<double>(g.data<double>(), dx.data<double>(), s);
        else kv->resize_nearest_backward(g.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor upsample_nearest2d(const Tensor& x, int factor) {
    check_defined(x, "upsample_nearest2d", "x");
    check_ndim(x, 4, "upsample_nearest2d", "x");
    if (factor < 1) throw Error("upsample_nearest2d: factor must be >= 1, got " + std::to_string(factor));
    return resize_nearest(x, x.dim(2) * factor, x.dim(3) * factor);
}

Tensor sigmoid(const Tensor& x) {
    check_defined(x, "sigmoid", "x");
    check_float(x, "sigmoid");
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    const int64_t n = x.numel();
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::sigmoid_forward<double>(x.data<double>(), y.data<double>(), n);
    else kv->sigmoid_forward(x.data<float>(), y.data<float>(), n);
    autograd::record(y, "sigmoid", {&x}, [ys = y.detach(), n, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
        if (!kv) cpu::sigmoid_backward<double>(ys.data<double>(), g.data<double>(), dx.data<double>(), n);
        else kv->sigmoid_backward(ys.data<float>(), g.data<float>(), dx.data<float>(), n);
        return std::vector<Tensor>{dx};
    });
    return y;
}

// An optional (C) or (N,C) parameter of channel_affine, on x's device and dtype.
void check_affine_param(const Tensor& p, const Tensor& x, const char* arg, bool per_sample) {
    if (!p.defined()) return;
    check_same_device(x, p, "channel_affine");
    check_same_dtype(x, p, "channel_affine");
    const Shape want = per_sample ? Shape{x.dim(0), x.dim(1)} : Shape{x.dim(1)};
    if (p.shape() != want)
        throw Error(std::string("channel_affine: ") + arg + " " + p.str() + " must have shape " + shape_str(want) + " for input " + x.str());
}

Tensor channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
    check_defined(x, "channel_affine", "x");
    check_float(x, "channel_affine");
    check_ndim(x, 4, "channel_affine", "x");
    const Tensor& shaped = a.defined() ? a : b;
    const bool per_sample = shaped.defined() && shaped.ndim() == 2;
    check_affine_param(a, x, "a", per_sample);
    check_affine_param(b, x, "b", per_sample);
    const InstanceNormShape s{x.dim(0), x.dim(1), x.dim(2) * x.dim(3), per_sample};
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::channel_affine_forward<double>(x.data<double>(), data_or_null<double>(a), data_or_null<double>(b), y.data<double>(), s);
    else kv->channel_affine_forward(x.data<float>(), data_or_null<float>(a), data_or_null<float>(b), y.data<float>(), s);
    autograd::record(y, "channel_affine", {&x, &a, &b},
                     [xs = x.detach(), as = a.defined() ? a.detach() : Tensor(), s, kv](const Tensor& g, const Node& self) {
                         std::vector<Tensor> grads(3);
                         const Shape pshape = s.per_sample ? Shape{s.N, s.C} : Shape{s.C};
                         if (self.needs_grad(0)) grads[0] = Tensor::empty(xs.shape(), g.dtype(), g.device());
                         if (self.needs_grad(1)) grads[1] = Tensor::empty(pshape, g.dtype(), g.device());
                         if (self.needs_grad(2)) grads[2] = Tensor::empty(pshape, g.dtype(), g.device());
                         auto ptr = [](Tensor& t) -> void* { return t.defined() ? t.raw_data() : nullptr; };
                         if (!kv)
                             cpu::channel_affine_backward<double>(xs.data<double>(), data_or_null<double>(as), g.data<double>(),
                                                                  static_cast<double*>(ptr(grads[0])), static_cast<double*>(ptr(grads[1])),
                                                                  static_cast<double*>(ptr(grads[2])), s);
                         else
                             kv->channel_affine_backward(xs.data<float>(), data_or_null<float>(as), g.data<float>(),
                                                         static_cast<float*>(ptr(grads[0])), static_cast<float*>(ptr(grads[1])),
                                                         static_cast<float*>(ptr(grads[2])), s);
                         return grads;
                     });
    return y;
}

Tensor spatial_mean(const Tensor& x) {
    check_defined(x, "spatial_mean", "x");
    check_float(x, "spatial_mean");
    check_ndim(x, 4, "spatial_mean", "x");
    if (x.numel() == 0) throw Error("spatial_mean: empty input " + x.str());
    const int64_t planes = x.dim(0) * x.dim(1), HW = x.dim(2) * x.dim(3);
    Tensor y = Tensor::empty({x.dim(0), x.dim(1), 1, 1}, x.dtype(), x.device());
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::plane_mean_forward<double>(x.data<double>(), y.data<double>(), planes, HW);
    else kv->plane_mean_forward(x.data<float>(), y.data<float>(), planes, HW);
    autograd::record(y, "spatial_mean", {&x}, [xshape = x.shape(), planes, HW, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xshape, g.dtype(), g.device());
        if (!kv) cpu::plane_mean_backward<double>(g.data<double>(), dx.data<double>(), planes, HW);
        else kv->plane_mean_backward(g.data<float>(), dx.data<float>(), planes, HW);
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor quantize_linear(const Tensor& x, double scale, double zero_point, double qmin, double qmax) {
    check_defined(x, "quantize_linear", "x");
    check_float(x, "quantize_linear");
    if (!(scale > 0) || !std::isfinite(scale)) throw Error("quantize_linear: scale must be positive and finite, got " + std::to_string(scale));
    if (!(qmin <= zero_point && zero_point <= qmax))
        throw Error("quantize_linear: zero point " + std::to_string(zero_point) + " is outside [" + std::to_string(qmin) + ", " +
                    std::to_string(qmax) + "]");
    const QuantShape s{x.numel(), float(scale), float(zero_point), float(qmin), float(qmax)};
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    const FeedForwardVariant* kv = kernels_for(x);
    if (!kv) cpu::quantize_forward<double>(x.data<double>(), y.data<double>(), s);
    else kv->quantize_forward(x.data<float>(), y.data<float>(), s);
    autograd::record(y, "quantize_linear", {&x}, [xs = x.detach(), s, kv](const Tensor& g, const Node&) {
        Tensor dx = Tensor::empty(xs.shape(), g.dtype(), g.device());
        if (!kv) cpu::quantize_backward<double>(xs.data<double>(), g.data<double>(), dx.data<double>(), s);
        else kv->quantize_backward(xs.data<float>(), g.data<float>(), dx.data<float>(), s);
        return std::vector<Tensor>{dx};
    });
    return y;
}

Tensor dequantize_linear(const Tensor& q, double scale, double zero_point) {
    check_defined(q, "dequantize_linear", "q");
    check_float(q, "dequantize_linear");
    // (q − zp)·s as one multiply-add per element: q·s + (−zp·s), a channel_affine with every channel alike
    // (q viewed as (1,1,numel,1)).
    const Tensor flat = q.reshape({1, 1, q.numel(), 1});
    auto filled = [&](double v) {
        return q.dtype() == DType::F64 ? Tensor::from_vector(std::vector<double>{v}, {1}, q.device())
                                       : Tensor::from_vector(std::vector<float>{float(v)}, {1}, q.device());
    };
    return channel_affine(flat, filled(scale), filled(-zero_point * scale)).reshape(q.shape());
}

}  // namespace nst
