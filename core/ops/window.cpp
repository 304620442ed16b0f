// crop2d and paste2d (contracts in core/ops.h): windows of NCHW tensors, one kernel call per window
// (kernels' crop_window / paste_window: on the GPU one launch, where a copy per row cost N·C·h calls).
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/vector_kernels.h"

namespace nst {

namespace {

void check_window(const Shape& big, const Shape& small, int64_t y0, int64_t x0, const char* op) {
    if (big.size() != 4 || small.size() != 4 || big[0] != small[0] || big[1] != small[1] || y0 < 0 || x0 < 0 ||
        small[2] < 1 || small[3] < 1 || y0 + small[2] > big[2] || x0 + small[3] > big[3])
        throw Error(std::string(op) + ": the window of " + std::to_string(small[2]) + "x" + std::to_string(small[3]) +
                    " at (" + std::to_string(y0) + ", " + std::to_string(x0) + ") does not fit " + shape_str(big));
}

WindowShape window_shape(const Shape& big, const Shape& small, int64_t y0, int64_t x0) {
    return {big[0] * big[1], big[2], big[3], y0, x0, small[2], small[3]};
}

}  // namespace

Tensor crop2d(const Tensor& x, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    check_defined(x, "crop2d", "x");
    check_float(x, "crop2d");
    const Shape& xs = x.shape();
    if (xs.size() != 4) throw Error("crop2d: expects an (N,C,H,W) tensor, got " + x.str());
    const Shape ys{xs[0], xs[1], h, w};
    check_window(xs, ys, y0, x0, "crop2d");
    Tensor y = Tensor::empty(ys, x.dtype(), x.device());
    const WindowShape s = window_shape(xs, ys, y0, x0);
    detail::visit_vector_kernels(x, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.crop_window(x.data<T>(), s, y.data<T>());
    });
    autograd::record(y, "crop2d", {&x}, [xs, y0, x0, dt = x.dtype(), dev = x.device()](const Tensor& g, const Node&) {
        Tensor dx = Tensor::zeros(xs, dt, dev);
        paste2d(dx, g, y0, x0);
        return std::vector<Tensor>{dx};
    });
    return y;
}

void paste2d(Tensor& dst, const Tensor& src, int64_t y0, int64_t x0) {
    check_defined(dst, "paste2d", "dst");
    check_defined(src, "paste2d", "src");
    check_float(dst, "paste2d");
    if (dst.dtype() != src.dtype() || dst.device() != src.device())
        throw Error("paste2d: " + src.str() + " into " + dst.str() + ": dtype and device must match");
    check_window(dst.shape(), src.shape(), y0, x0, "paste2d");
    const WindowShape s = window_shape(dst.shape(), src.shape(), y0, x0);
    detail::visit_vector_kernels(src, [&](auto t, const auto& k) {
        using T = decltype(t);
        k.paste_window(src.data<T>(), s, dst.data<T>());
    });
}

}  // namespace nst
