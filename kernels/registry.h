// The kernel registry: for every op, the named implementations ("variants") that exist per device.
//
// A variant is a bundle of plain function pointers (forward and backward kernels of one op) working on
// float32 pointers that live on the variant's device. Library wrappers (cuDNN, cuBLAS) are variants with
// `library = true`; they are the yardstick for correctness and speed. Tests iterate every registered
// variant, benchmarks time every one, and core/dispatch.cpp picks one per call; nothing else needs to
// know they exist. Adding a kernel = writing it and adding one row to its table in registry.cpp.
//
// Contract shared by all kernels: outputs are overwritten (never accumulated); pointers to scalar
// results or scalar upstream gradients (`out`, `g`) point to memory on the same device as the data;
// CUDA kernels run asynchronously on nst::cuda::stream() and check their launches.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/device.h"  // DeviceKind
#include "kernels/shapes.h"

namespace nst {

struct Conv2dVariant {
    const char* name;
    bool library;
    // y = conv(x, w) + b; b may be null.
    void (*forward)(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
    // dx = conv_transpose(dy, w)
    void (*backward_data)(const float* dy, const float* w, float* dx, const ConvShape& s);
    // dw = correlate(x, dy) summed over the batch
    void (*backward_weight)(const float* x, const float* dy, float* dw, const ConvShape& s);
    // db[k] = sum of dy over n, p, q
    void (*backward_bias)(const float* dy, float* db, const ConvShape& s);
    // Optional (null when the variant has none): frozen weights rearranged once into the variant's own
    // form (Winograd's G g Gᵀ), which the *_prepared kernels then take in place of w. prepared_size
    // returns how many floats that takes for the shape (H, W and N do not matter), 0 if none.
    int64_t (*prepared_size)(const ConvShape& s);
    void (*prepare)(const float* w, float* prepared, const ConvShape& s);
    void (*forward_prepared)(const float* x, const float* prepared, const float* b, float* y, const ConvShape& s);
    void (*backward_data_prepared)(const float* dy, const float* prepared, float* dx, const ConvShape& s);
};

struct ReluVariant {
    const char* name;
    bool library;
    void (*forward)(const float* x, float* y, int64_t n);
    // dx = dy where y > 0, else 0. Uses the output y, so the input can be freed after the forward; dx may be
    // dy (in place: conv2d_relu masks a gradient it owns so).
    void (*backward)(const float* y, const float* dy, float* dx, int64_t n);
};

struct PoolVariant {
    const char* name;
    bool library;
    // Whether forward wants an int32 argmax buffer of y's size (index into the H*W plane; max pool only).
    bool uses_argmax;
    void (*forward)(const float* x, float* y, int32_t* argmax, const PoolShape& s);
    void (*backward)(const float* x, const float* y, const int32_t* argmax, const float* dy, float* dx,
                     const PoolShape& s);
};

struct GramVariant {
    const char* name;
    bool library;
    void (*forward)(const float* f, float* g, const GramShape& s);
    // dF = (dG + dGᵀ) F * scale
    void (*backward)(const float* f, const float* dg, float* df, const GramShape& s);
};

// Pointwise ops, reductions and the losses built from them: no library has these as such, so only the
// project's own kernels implement them.
struct VectorVariant {
    const char* name;
    bool library;
    void (*add)(const float* a, const float* b, float* y, int64_t n);
    void (*sub)(const float* a, const float* b, float* y, int64_t n);
    void (*mul)(const float* a, const float* b, float* y, int64_t n);
    void (*scale)(const float* a, float s, float* y, int64_t n);
    void (*fill_scaled)(const float* g, float s, float* y, int64_t n);  // y[i] = s * (*g)
    void (*fill)(float v, float* y, int64_t n);                         // y[i] = v (no host copy)
    void (*sum)(const float* x, int64_t n, float* out);
    void (*sum_squares)(const float* x, int64_t n, float* out);
    void (*mse)(const float* a, const float* b, int64_t n, float* out);  // mean((a-b)^2)
    // da = g * 2 (a-b) / n
    void (*mse_backward)(const float* a, const float* b, const float* g, int64_t n, float* da);
    void (*sum_squares_backward)(const float* x, const float* g, int64_t n, float* dx);  // 2 g x
    void (*tv)(const float* x, const ImageShape& s, float* out);
    void (*tv_backward)(const float* x, const float* g, const ImageShape& s, float* dx);
    void (*crop_window)(const float* big, const WindowShape& s, float* small);   // crop2d
    void (*paste_window)(const float* small, const WindowShape& s, float* big);  // paste2d, crop2d's backward
};

// BLAS-1, for optimizers. dot and nrm2 write their scalar to device memory: no host round trip.
struct Blas1Variant {
    const char* name;
    bool library;
    void (*dot)(const float* x, const float* y, int64_t n, float* out);
    void (*axpy)(int64_t n, float alpha, const float* x, float* y);  // y += alpha x
    void (*scal)(int64_t n, float alpha, float* x);                  // x *= alpha
    void (*nrm2)(const float* x, int64_t n, float* out);             // sqrt(sum x^2)
};

// Optimizer arithmetic (L-BFGS, Adam, gradient normalisation) that keeps every scalar on the device:
// arguments ending in _s point to single floats in the device's memory, so an optimizer step never
// waits for the host. Only the project's own kernels implement these.
struct OptimVariant {
    const char* name;
    bool library;
    void (*asum)(const float* x, int64_t n, float* out_s);  // Σ |x|
    // out = strength * g / (norm + 1e-8)   (neural-style's --normalize-gradients)
    void (*scale_by_norm)(const float* g, const float* norm_s, float strength, int64_t n, float* out);
    void (*axpy_s)(int64_t n, const float* coef_s, float mult, const float* x, float* y);  // y += mult·coef·x
    void (*scal_s)(int64_t n, const float* coef_s, float* x);                             // x *= coef
    void (*scalar_mul)(const float* a_s, const float* b_s, float* out_s);                 // out = a·b
    void (*scalar_sub)(const float* a_s, const float* b_s, float* out_s);                 // out = a − b
    // A new L-BFGS pair with curvature ys = yᵀs: ro = 1/ys and hdiag = ys/yᵀy when ys > 1e-10; otherwise
    // ro = 0 (the pair is inert) and hdiag is kept.
    void (*lbfgs_pair)(const float* ys_s, const float* yy_s, float* ro_s, float* hdiag_s);
    void (*lbfgs_first_step)(const float* gnorm1_s, float lr, float* t_s);  // t = min(1, 1/‖g‖₁)·lr
    // Adam (Kingma & Ba) with bias correction, step number t >= 1.
    void (*adam_step)(int64_t n, float* x, const float* g, float* m, float* v, float lr, float beta1, float beta2,
                      float eps, int t);
};

// The feed-forward style networks' ops (issue #23): instance normalisation (with conditional instance
// norm's row mix), reflection padding, nearest-neighbour resizing, sigmoid, and the ONNX graphs' per-channel
// affine, plane means and quantisation. Contracts: kernels/cpu/cpu_kernels.h.
struct FeedForwardVariant {
    const char* name;
    bool library;
    void (*instance_norm_forward)(const float* x, const float* w, const float* b, float* y, float* mean, float* invstd,
                                  const InstanceNormShape& s, double eps);
    void (*instance_norm_backward)(const float* x, const float* w, const float* mean, const float* invstd,
                                   const float* dy, float* dx, float* dw, float* db, const InstanceNormShape& s);
    void (*mix_rows)(const float* alpha, const float* rows, float* out, int64_t N, int64_t S, int64_t C);
    void (*mix_rows_backward)(const float* alpha, const float* dout, float* drows, int64_t N, int64_t S, int64_t C);
    void (*reflection_pad_forward)(const float* x, float* y, const PadShape& s);
    void (*reflection_pad_backward)(const float* dy, float* dx, const PadShape& s);
    void (*resize_nearest_forward)(const float* x, float* y, const ResizeShape& s);
    void (*resize_nearest_backward)(const float* dy, float* dx, const ResizeShape& s);
    void (*sigmoid_forward)(const float* x, float* y, int64_t n);
    void (*sigmoid_backward)(const float* y, const float* dy, float* dx, int64_t n);
    // The ONNX graphs' per-channel arithmetic, GlobalAveragePool and QuantizeLinear.
    void (*channel_affine_forward)(const float* x, const float* a, const float* b, float* y, const InstanceNormShape& s);
    void (*channel_affine_backward)(const float* x, const float* a, const float* dy, float* dx, float* da, float* db,
                                    const InstanceNormShape& s);
    void (*plane_mean_forward)(const float* x, float* out, int64_t planes, int64_t HW);
    void (*plane_mean_backward)(const float* dout, float* dx, int64_t planes, int64_t HW);
    void (*quantize_forward)(const float* x, float* y, const QuantShape& s);
    void (*quantize_backward)(const float* x, const float* dy, float* dx, const QuantShape& s);
};

// Variant tables per device. An empty span means the device has no implementation (e.g. CUDA in a
// CPU-only build). Table order is the ladder's order (bench_kernels numbers the rungs by it). The
// project's default for a device is the row default_variant names, else the first non-library row.
// Every CPU table has a "reference" row: the plain-loop specification.
std::span<const Conv2dVariant> conv2d_variants(DeviceKind d);
std::span<const ReluVariant> relu_variants(DeviceKind d);
std::span<const PoolVariant> max_pool_variants(DeviceKind d);
std::span<const PoolVariant> avg_pool_variants(DeviceKind d);
std::span<const GramVariant> gram_variants(DeviceKind d);
std::span<const VectorVariant> vector_variants(DeviceKind d);
std::span<const Blas1Variant> blas1_variants(DeviceKind d);
std::span<const OptimVariant> optim_variants(DeviceKind d);
std::span<const FeedForwardVariant> feedforward_variants(DeviceKind d);
// The default variant's name for an op on a device when it is not the table's first non-library row
// (a faster rung, once verified on real hardware), else nullptr.
const char* default_variant(const char* op, DeviceKind d);

// Whether library variants (cuDNN, cuBLAS) may use TF32 tensor cores. Off by default, so every variant
// computes in full fp32 and can be compared with the reference at 1e-4; NST_ALLOW_TF32=1 turns it on.
bool allow_tf32();
void set_allow_tf32(bool on);

// Threads the fast CPU kernels may use (kernels/cpu/parallel.h; OpenBLAS itself is kept at one thread
// and called from those threads; the reference kernels are single-threaded).
// 0 or less: the default (all hardware threads, or $NST_THREADS).
void set_cpu_threads(int n);
int cpu_threads();

// Whether this build compiled the cuDNN wrappers (built_with_cuda() is in base/device.h).
bool built_with_cudnn();
// Why there is no cuDNN variant in this build ("" when there is one): no cuDNN found, or CUDA on the CPU.
std::string cudnn_absence();

}  // namespace nst
