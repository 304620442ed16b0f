// crop2d and paste2d (contracts in core/ops.h): windows of NCHW tensors, copied row by row.
#include <string>

#include "base/device.h"
#include "core/autograd.h"
#include "core/ops.h"

namespace nst {

namespace {

void check_window(const Shape& big, const Shape& small, int64_t y0, int64_t x0, const char* op) {
    if (big.size() != 4 || small.size() != 4 || big[0] != small[0] || big[1] != small[1] || y0 < 0 || x0 < 0 ||
        small[2] < 1 || small[3] < 1 || y0 + small[2] > big[2] || x0 + small[3] > big[3])
        throw Error(std::string(op) + ": the window of " + std::to_string(small[2]) + "x" + std::to_string(small[3]) +
                    " at (" + std::to_string(y0) + ", " + std::to_string(x0) + ") does not fit " + shape_str(big));
}

// Copies the window rows between a big (N,C,H,W) and a small (N,C,h,w) tensor: into the small one when
// `out`, else into the big one.
void copy_rows(const Tensor& big, const Tensor& small, int64_t y0, int64_t x0, bool out) {
    const Shape& b = big.shape();
    const Shape& s = small.shape();
    const size_t e = dtype_size(big.dtype());
    auto* bp = static_cast<char*>(big.raw_data());
    auto* sp = static_cast<char*>(small.raw_data());
    const bool cuda = big.device().is_cuda();
    for (int64_t nc = 0; nc < b[0] * b[1]; ++nc)
        for (int64_t i = 0; i < s[2]; ++i) {
            char* brow = bp + e * size_t((nc * b[2] + y0 + i) * b[3] + x0);
            char* srow = sp + e * size_t((nc * s[2] + i) * s[3]);
            if (out) copy_bytes(srow, cuda, brow, cuda, e * size_t(s[3]));
            else copy_bytes(brow, cuda, srow, cuda, e * size_t(s[3]));
        }
}

}  // namespace

Tensor crop2d(const Tensor& x, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    check_defined(x, "crop2d", "x");
    const Shape& xs = x.shape();
    if (xs.size() != 4) throw Error("crop2d: expects an (N,C,H,W) tensor, got " + x.str());
    Tensor y = Tensor::empty({xs[0], xs[1], h, w}, x.dtype(), x.device());
    check_window(xs, y.shape(), y0, x0, "crop2d");
    copy_rows(x, y, y0, x0, true);
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
    if (dst.dtype() != src.dtype() || dst.device() != src.device())
        throw Error("paste2d: " + src.str() + " into " + dst.str() + ": dtype and device must match");
    check_window(dst.shape(), src.shape(), y0, x0, "paste2d");
    copy_rows(dst, src, y0, x0, false);
}

}  // namespace nst
