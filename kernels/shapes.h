// Shapes passed to kernels. Kernels see raw pointers and these structs only: no tensors, no autograd.
// All tensors are dense, contiguous, NCHW (row-major, W fastest).
#pragma once
#include <cstdint>

// Shape helpers are callable from CUDA kernels too.
#ifdef __CUDACC__
#define NST_HD __host__ __device__
#else
#define NST_HD
#endif

namespace nst {

// conv2d: x is (N,C,H,W), w is (K,C,R,S), b is (K), y is (N,K,P,Q).
struct ConvShape {
    int N = 1, C = 1, H = 1, W = 1;  // input
    int K = 1, R = 1, S = 1;         // K filters of C x R x S
    int stride_h = 1, stride_w = 1;
    int pad_h = 0, pad_w = 0;        // zero padding on each side
    // Forward epilogue: y = max(0, conv(x, w) + b), the ReLU that follows every VGG conv, applied where the
    // kernel writes y instead of in a pass of its own. Every forward kernel honours it; backward kernels
    // are called with it false (the op masks the gradient first), and shapes derived from this one for a
    // backward pass (transposed_conv) clear it.
    bool relu = false;
    NST_HD int P() const { return (H + 2 * pad_h - R) / stride_h + 1; }
    NST_HD int Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }
    NST_HD int64_t x_size() const { return int64_t(N) * C * H * W; }
    NST_HD int64_t w_size() const { return int64_t(K) * C * R * S; }
    NST_HD int64_t y_size() const { return int64_t(N) * K * P() * Q(); }
};

// The value a forward kernel stores for an accumulated conv + bias v: v, or ReLU(v) when rectifying, by the
// same test as the relu op (v > 0 ? v : 0), so a fused layer equals conv then relu to the bit. Kernels
// that take the flag alone (not the shape) call relu_if.
template <class T> NST_HD inline T relu_if(bool relu, T v) { return (relu && !(v > T(0))) ? T(0) : v; }
template <class T> NST_HD inline T conv_epilogue(T v, const ConvShape& s) { return relu_if(s.relu, v); }

// 2-D pooling: x is (N,C,H,W), y is (N,C,P,Q). Padding never wins a max and counts as zeros in an
// average (PyTorch's count_include_pad=True), so the average divisor is always R*S.
struct PoolShape {
    int N = 1, C = 1, H = 1, W = 1;
    int R = 2, S = 2;                // window
    int stride_h = 2, stride_w = 2;
    int pad_h = 0, pad_w = 0;
    NST_HD int P() const { return (H + 2 * pad_h - R) / stride_h + 1; }
    NST_HD int Q() const { return (W + 2 * pad_w - S) / stride_w + 1; }
    NST_HD int64_t x_size() const { return int64_t(N) * C * H * W; }
    NST_HD int64_t y_size() const { return int64_t(N) * C * P() * Q(); }
};

// The 3x3, stride-1, pad-1 ("same") convolution VGG is made of: the shape the Winograd (CPU) and
// shared-memory (CUDA) kernels are specialised for.
NST_HD inline bool is_3x3_same(const ConvShape& s) {
    return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 && s.pad_w == 1;
}

// Implicit GEMM view of a convolution (the CUDA "igemm" variants): y[K, N·P·Q] = W[K, C·R·S] · X[C·R·S, N·P·Q],
// where X is never stored. Row `kk` of X is (c, r, t), column `j` is (n, p, q); the element is the input
// value that multiplies w[k][c][r][t] for output (n, k, p, q). Returns its offset in x (N,C,H,W), or -1
// where the window reaches into the zero padding.
NST_HD inline long long implicit_gemm_x_offset(const ConvShape& s, long long kk, long long j) {
    const int RS = s.R * s.S, PQ = s.P() * s.Q();
    const int c = int(kk / RS), r = int((kk / s.S) % s.R), t = int(kk % s.S);
    const long long n = j / PQ;
    const int pq = int(j % PQ), p = pq / s.Q(), q = pq % s.Q();
    const int h = p * s.stride_h - s.pad_h + r, w = q * s.stride_w - s.pad_w + t;
    if (h < 0 || h >= s.H || w < 0 || w >= s.W) return -1;
    return ((n * s.C + c) * s.H + h) * s.W + w;
}

// The stride-1 convolution whose forward is the backward-data of `s`: dx = conv(dy, w') with
// w'[c][k][r][t] = w[k][c][R-1-r][S-1-t] and padding R-1-pad (needs stride 1 and pad <= R-1, S-1).
NST_HD inline bool has_transposed_conv(const ConvShape& s) {
    return s.stride_h == 1 && s.stride_w == 1 && s.pad_h <= s.R - 1 && s.pad_w <= s.S - 1;
}
NST_HD inline ConvShape transposed_conv(const ConvShape& s) {
    ConvShape t = s;
    t.C = s.K; t.K = s.C; t.H = s.P(); t.W = s.Q();
    t.pad_h = s.R - 1 - s.pad_h; t.pad_w = s.S - 1 - s.pad_w;
    t.relu = false;  // a gradient, never rectified
    return t;
}

// The windows p (of size R, given stride and pad, P of them) that contain input row h: p in [lo, hi],
// empty when lo > hi. Used by gather-form backward kernels (one thread per input element).
NST_HD inline void windows_containing(int h, int R, int stride, int pad, int P, int& lo, int& hi) {
    const int a = h + pad - R + 1;  // the smallest p*stride whose window still reaches h
    lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    hi = (h + pad) / stride;
    if (hi > P - 1) hi = P - 1;
}

// Gram: F is (N,C,HW) viewed per image as a C x HW matrix; G is (N,C,C) = F Fᵀ / (C*H*W).
struct GramShape {
    int N = 1, C = 1;
    int64_t HW = 1;
    NST_HD double scale() const { return 1.0 / (double(C) * double(HW)); }
};

// A window of h x w at (y0, x0) in each of `planes` (N·C) planes of H x W: crop2d and paste2d.
struct WindowShape {
    int64_t planes = 1, H = 1, W = 1, y0 = 0, x0 = 0, h = 1, w = 1;
    NST_HD int64_t size() const { return planes * h * w; }  // the window's elements
};

// The feed-forward style networks' ops (issue #23; kernels/cpu/feedforward.cpp):
// instance normalisation of x (N,C,H,W) over each (n, c) plane of HW values, with affine parameters per
// channel (C values) or, for conditional instance normalisation, per sample and channel (N·C values).
struct InstanceNormShape {
    int64_t N = 1, C = 1, HW = 1;
    bool per_sample = false;  // the affine parameters are (N,C), not (C)
    NST_HD int64_t planes() const { return N * C; }
    NST_HD int64_t param(int64_t plane) const { return per_sample ? plane : plane % C; }  // index into w, b
};

// Reflection padding of `planes` planes of H x W by top/bottom/left/right (each less than the side it
// mirrors): y is (H + top + bottom) x (W + left + right), y[i][j] = x[r(i - top, H)][r(j - left, W)] with
// r(k, n) = k < 0 ? -k : k >= n ? 2 (n - 1) - k : k (the edge itself is not repeated).
struct PadShape {
    int64_t planes = 1, H = 1, W = 1;
    int top = 0, bottom = 0, left = 0, right = 0;
    NST_HD int64_t Ho() const { return H + top + bottom; }
    NST_HD int64_t Wo() const { return W + left + right; }
    NST_HD static int64_t reflect(int64_t k, int64_t n) { return k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k; }
    // The output positions (0 <= i < n + before + after) whose source is h, at most 3 (for the backward
    // as a gather): h itself, its mirror in the leading pad, its mirror in the trailing pad.
    NST_HD static int preimages(int64_t h, int64_t n, int before, int after, int64_t* out) {
        int count = 0;
        out[count++] = h + before;
        if (h >= 1 && h <= before) out[count++] = before - h;
        const int64_t k = 2 * (n - 1) - h;  // reflected past the end
        if (h <= n - 2 && k < n + after) out[count++] = before + k;
        return count;
    }
};

// Nearest-neighbour resize of `planes` planes of H x W to Ho x Wo: y[i][j] = x[i·H/Ho][j·W/Wo] (integer
// division: ONNX Resize with coordinate_transformation_mode 'asymmetric' and nearest_mode 'floor' for
// sizes given as such; x2 upsampling is Ho = 2H, Wo = 2W).
struct ResizeShape {
    int64_t planes = 1, H = 1, W = 1, Ho = 1, Wo = 1;
    NST_HD int64_t src_row(int64_t i) const { return i * H / Ho; }
    NST_HD int64_t src_col(int64_t j) const { return j * W / Wo; }
    // The output rows whose source row is h: [first, end) (empty when downsampling skips h).
    NST_HD int64_t rows_from(int64_t h) const { return (h * Ho + H - 1) / H; }
    NST_HD int64_t cols_from(int64_t w) const { return (w * Wo + W - 1) / W; }
};

// ONNX QuantizeLinear on floats: q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax), kept as
// a float holding a whole number (the int8 or uint8 value); DequantizeLinear is (q − zero_point) · scale
// (core's dequantize_linear, a channel_affine). The backward is the straight-through estimator of
// quantisation-aware training: dx = dy / scale where x / scale + zero_point lies within [qmin − ½, qmax + ½],
// else 0 (the true derivative of the rounding is 0 almost everywhere, which teaches nothing).
struct QuantShape {
    int64_t n = 0;
    float scale = 1, zero_point = 0, qmin = -128, qmax = 127;
    NST_HD bool passes(float x) const {
        const float v = x / scale + zero_point;
        return v >= qmin - 0.5f && v <= qmax + 0.5f;
    }
};

// Total variation over x of (N,C,H,W): sum of squared differences of horizontal and vertical neighbours.
struct ImageShape {
    int N = 1, C = 1, H = 1, W = 1;
    NST_HD int64_t size() const { return int64_t(N) * C * H * W; }
};

}  // namespace nst
