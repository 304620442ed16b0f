// cuDNN wrappers (legacy cuDNN API, present in cuDNN 8 and 9). Descriptors are built per call: they
// cost microseconds, and keeping this file obviously correct matters more than that here.
// Convolution algorithms come from cuDNN's heuristics (…_v7), filtered by the TF32 setting, deterministic
// ones preferred, and are cached per shape so a steady-state loop asks once. The "cudnn_best" variant
// (conv2d_forward_best, conv2d_backward_data_best) instead times every algorithm once per shape with
// cudnnFind…AlgorithmEx and keeps the fastest that fits the workspace bound: cuDNN's best, the yardstick
// that PyTorch's cudnn.benchmark=True gets.
#include "kernels/cudnn/cudnn_kernels.h"

#include <cstdint>
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "base/device.h"
#include "kernels/registry.h"  // allow_tf32

namespace nst::cudnn {
namespace {

void check(cudnnStatus_t st, const char* expr, int line) {
    if (st != CUDNN_STATUS_SUCCESS)
        throw Error(std::string("cuDNN error '") + cudnnGetErrorString(st) + "' in " + expr + " at " +
                    __FILE__ + ":" + std::to_string(line));
}
#define NST_CUDNN_CHECK(expr) check((expr), #expr, __LINE__)

cudnnHandle_t handle() {
    static cudnnHandle_t h = [] {
        cudnnHandle_t hh{};
        NST_CUDNN_CHECK(cudnnCreate(&hh));
        NST_CUDNN_CHECK(cudnnSetStream(hh, cuda::stream()));
        return hh;
    }();
    return h;
}

int to_int(int64_t v, const char* what) {
    if (v > INT_MAX) throw Error(std::string("cuDNN wrapper: ") + what + " exceeds INT_MAX elements");
    return int(v);
}

struct TensorDesc {
    cudnnTensorDescriptor_t d{};
    TensorDesc(int n, int c, int h, int w) {
        NST_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
        NST_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
    }
    ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
    TensorDesc(const TensorDesc&) = delete;
    TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
    cudnnFilterDescriptor_t d{};
    FilterDesc(int k, int c, int r, int s) {
        NST_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
        NST_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, r, s));
    }
    ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
    FilterDesc(const FilterDesc&) = delete;
    FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDescs {
    TensorDesc x, y;
    FilterDesc w;
    cudnnConvolutionDescriptor_t conv{};
    explicit ConvDescs(const ConvShape& s)
        : x(s.N, s.C, s.H, s.W), y(s.N, s.K, s.P(), s.Q()), w(s.K, s.C, s.R, s.S) {
        NST_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
        NST_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, s.pad_h, s.pad_w, s.stride_h, s.stride_w, 1, 1,
                                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        NST_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    }
    ~ConvDescs() { cudnnDestroyConvolutionDescriptor(conv); }
};

using ShapeKey = std::tuple<int, int, int, int, int, int, int, int, int, int, int, bool>;
ShapeKey key_of(const ConvShape& s) {
    return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride_h, s.stride_w, s.pad_h, s.pad_w, allow_tf32()};
}

// The first heuristic choice that succeeded, respects the TF32 setting and is deterministic, else the first
// that succeeded and respects the TF32 setting. Deterministic first: a CUDA graph's replays are checked
// against eager evaluations at 1e-5, and repeated runs should agree. (There is no workspace limit to
// respect: cuda::workspace grows to any size asked.)
template <class Perf> auto pick(const Perf* perf, int count, const char* what) {
    const auto usable = [](const Perf& p) {
        return p.status == CUDNN_STATUS_SUCCESS && (allow_tf32() || p.mathType != CUDNN_TENSOR_OP_MATH);
    };
    for (int i = 0; i < count; ++i)
        if (usable(perf[i]) && perf[i].determinism == CUDNN_DETERMINISTIC) return perf[i].algo;
    for (int i = 0; i < count; ++i)
        if (usable(perf[i])) return perf[i].algo;
    throw Error(std::string("cuDNN found no usable algorithm for ") + what);
}

const float kOne = 1.f, kZero = 0.f;

// After a forward: y += b, then the fused ReLU (ConvShape::relu) as a pass of its own, in place (as PyTorch
// runs conv then relu), through the project's relu kernel: conv_epilogue's v > 0 ? v : 0 exactly (cuDNN's
// own ReLU may treat -0 and NaN otherwise).
void epilogue(const ConvDescs& d, const float* b, float* y, const ConvShape& s) {
    if (b) {
        TensorDesc bd(1, s.K, 1, 1);
        NST_CUDNN_CHECK(cudnnAddTensor(handle(), &kOne, bd.d, b, &kOne, d.y.d, y));
    }
    if (s.relu) cuda::relu_forward(y, y, s.y_size());
}

// ---- cuDNN's best (cudnnFind) ----

// The most workspace an algorithm of cudnn_best may use: NST_CUDNN_BEST_WORKSPACE_MIB (default 1024 MiB;
// cuda::workspace keeps the largest size it was asked for, so this bounds what the variant leaves held).
size_t best_workspace_bound() {
    static const size_t bound = [] {
        const char* v = std::getenv("NST_CUDNN_BEST_WORKSPACE_MIB");
        const long mib = v ? std::strtol(v, nullptr, 10) : 1024;
        return size_t(mib > 0 ? mib : 1024) << 20;
    }();
    return bound;
}

// An algorithm and the math type cuDNN timed it with (set on the descriptor before each call, as
// PyTorch does; under FMA math only FMA algorithms are tried at all).
template <class Algo> struct Choice {
    Algo algo;
    cudnnMathType_t math;
};

// The fastest timed algorithm that succeeded, fits the bound and respects the TF32 setting (cudnnFind
// returns them sorted by time). Determinism is not asked for: this is the speed yardstick, not the
// library backend (which stays on the "cudnn" row and its deterministic choice).
template <class Algo, class Perf> Choice<Algo> pick_fastest(const Perf* perf, int count, const char* what) {
    for (int i = 0; i < count; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= best_workspace_bound() &&
            (allow_tf32() || perf[i].mathType != CUDNN_TENSOR_OP_MATH))
            return {perf[i].algo, allow_tf32() ? perf[i].mathType : CUDNN_FMA_MATH};
    throw Error(std::string("cuDNN's Find timed no usable algorithm for ") + what);
}

// The largest workspace any algorithm asks for within the bound: what the Find calls are given, so that
// every algorithm that fits the bound can be timed (sizes come from the same queries the calls use).
template <class SizeFn> size_t find_workspace(int algo_count, SizeFn size_of) {
    size_t most = 0;
    for (int a = 0; a < algo_count; ++a) {
        size_t ws = 0;
        if (size_of(a, &ws) == CUDNN_STATUS_SUCCESS && ws <= best_workspace_bound()) most = std::max(most, ws);
    }
    return most;
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    ConvDescs d(s);
    static std::map<ShapeKey, cudnnConvolutionFwdAlgo_t> cache;
    auto it = cache.find(key_of(s));
    if (it == cache.end()) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        NST_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle(), d.x.d, d.w.d, d.conv, d.y.d,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        it = cache.emplace(key_of(s), pick(perf, n, "conv2d forward")).first;
    }
    size_t ws = 0;
    NST_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle(), d.x.d, d.w.d, d.conv, d.y.d, it->second, &ws));
    NST_CUDNN_CHECK(cudnnConvolutionForward(handle(), &kOne, d.x.d, x, d.w.d, w, d.conv, it->second,
                                            ws ? cuda::workspace(ws) : nullptr, ws, &kZero, d.y.d, y));
    epilogue(d, b, y, s);
}

void conv2d_backward_data(const float* dy, const float* w, float* dx, const ConvShape& s) {
    ConvDescs d(s);
    static std::map<ShapeKey, cudnnConvolutionBwdDataAlgo_t> cache;
    auto it = cache.find(key_of(s));
    if (it == cache.end()) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int n = 0;
        NST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            handle(), d.w.d, d.y.d, d.conv, d.x.d, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        it = cache.emplace(key_of(s), pick(perf, n, "conv2d backward data")).first;
    }
    size_t ws = 0;
    NST_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), d.w.d, d.y.d, d.conv, d.x.d, it->second, &ws));
    NST_CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &kOne, d.w.d, w, d.y.d, dy, d.conv, it->second,
                                                 ws ? cuda::workspace(ws) : nullptr, ws, &kZero, d.x.d, dx));
}

// cudnnFind…Ex times the algorithms on the caller's own buffers (y, dx are overwritten, as the call does
// anyway) and the project's workspace, so no hidden cudaMalloc of operand copies; it synchronizes, so the
// first call per shape must not be inside a CUDA graph capture (bench_eval captures after two warm-ups).
void conv2d_forward_best(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    ConvDescs d(s);
    static std::map<ShapeKey, Choice<cudnnConvolutionFwdAlgo_t>> cache;
    auto it = cache.find(key_of(s));
    if (it == cache.end()) {
        const size_t bytes = find_workspace(CUDNN_CONVOLUTION_FWD_ALGO_COUNT, [&](int a, size_t* ws) {
            return cudnnGetConvolutionForwardWorkspaceSize(handle(), d.x.d, d.w.d, d.conv, d.y.d,
                                                           cudnnConvolutionFwdAlgo_t(a), ws);
        });
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        NST_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle(), d.x.d, x, d.w.d, w, d.conv, d.y.d, y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf,
                                                               bytes ? cuda::workspace(bytes) : nullptr, bytes));
        it = cache.emplace(key_of(s), pick_fastest<cudnnConvolutionFwdAlgo_t>(perf, n, "conv2d forward")).first;
    }
    NST_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, it->second.math));
    size_t ws = 0;
    NST_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle(), d.x.d, d.w.d, d.conv, d.y.d, it->second.algo, &ws));
    NST_CUDNN_CHECK(cudnnConvolutionForward(handle(), &kOne, d.x.d, x, d.w.d, w, d.conv, it->second.algo,
                                            ws ? cuda::workspace(ws) : nullptr, ws, &kZero, d.y.d, y));
    epilogue(d, b, y, s);
}

void conv2d_backward_data_best(const float* dy, const float* w, float* dx, const ConvShape& s) {
    ConvDescs d(s);
    static std::map<ShapeKey, Choice<cudnnConvolutionBwdDataAlgo_t>> cache;
    auto it = cache.find(key_of(s));
    if (it == cache.end()) {
        const size_t bytes = find_workspace(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, [&](int a, size_t* ws) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), d.w.d, d.y.d, d.conv, d.x.d,
                                                                cudnnConvolutionBwdDataAlgo_t(a), ws);
        });
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int n = 0;
        NST_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
            handle(), d.w.d, w, d.y.d, dy, d.conv, d.x.d, dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf,
            bytes ? cuda::workspace(bytes) : nullptr, bytes));
        it = cache.emplace(key_of(s), pick_fastest<cudnnConvolutionBwdDataAlgo_t>(perf, n, "conv2d backward data")).first;
    }
    NST_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, it->second.math));
    size_t ws = 0;
    NST_CUDNN_CHECK(
        cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), d.w.d, d.y.d, d.conv, d.x.d, it->second.algo, &ws));
    NST_CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &kOne, d.w.d, w, d.y.d, dy, d.conv, it->second.algo,
                                                 ws ? cuda::workspace(ws) : nullptr, ws, &kZero, d.x.d, dx));
}

void conv2d_backward_weight(const float* x, const float* dy, float* dw, const ConvShape& s) {
    ConvDescs d(s);
    static std::map<ShapeKey, cudnnConvolutionBwdFilterAlgo_t> cache;
    auto it = cache.find(key_of(s));
    if (it == cache.end()) {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        int n = 0;
        NST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            handle(), d.x.d, d.y.d, d.conv, d.w.d, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
        it = cache.emplace(key_of(s), pick(perf, n, "conv2d backward filter")).first;
    }
    size_t ws = 0;
    NST_CUDNN_CHECK(
        cudnnGetConvolutionBackwardFilterWorkspaceSize(handle(), d.x.d, d.y.d, d.conv, d.w.d, it->second, &ws));
    NST_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), &kOne, d.x.d, x, d.y.d, dy, d.conv, it->second,
                                                   ws ? cuda::workspace(ws) : nullptr, ws, &kZero, d.w.d, dw));
}

void conv2d_backward_bias(const float* dy, float* db, const ConvShape& s) {
    TensorDesc dyd(s.N, s.K, s.P(), s.Q()), bd(1, s.K, 1, 1);
    NST_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle(), &kOne, dyd.d, dy, &kZero, bd.d, db));
}

namespace {
struct PoolDescs {
    TensorDesc x, y;
    cudnnPoolingDescriptor_t pool{};
    PoolDescs(const PoolShape& s, cudnnPoolingMode_t mode) : x(s.N, s.C, s.H, s.W), y(s.N, s.C, s.P(), s.Q()) {
        NST_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&pool));
        NST_CUDNN_CHECK(cudnnSetPooling2dDescriptor(pool, mode, CUDNN_NOT_PROPAGATE_NAN, s.R, s.S, s.pad_h,
                                                    s.pad_w, s.stride_h, s.stride_w));
    }
    ~PoolDescs() { cudnnDestroyPoolingDescriptor(pool); }
};

void pool_forward(cudnnPoolingMode_t mode, const float* x, float* y, const PoolShape& s) {
    PoolDescs d(s, mode);
    NST_CUDNN_CHECK(cudnnPoolingForward(handle(), d.pool, &kOne, d.x.d, x, &kZero, d.y.d, y));
}
void pool_backward(cudnnPoolingMode_t mode, const float* x, const float* y, const float* dy, float* dx,
                   const PoolShape& s) {
    PoolDescs d(s, mode);
    NST_CUDNN_CHECK(cudnnPoolingBackward(handle(), d.pool, &kOne, d.y.d, y, d.y.d, dy, d.x.d, x, &kZero, d.x.d, dx));
}
}  // namespace

void max_pool_forward(const float* x, float* y, int32_t*, const PoolShape& s) { pool_forward(CUDNN_POOLING_MAX, x, y, s); }
void max_pool_backward(const float* x, const float* y, const int32_t*, const float* dy, float* dx, const PoolShape& s) {
    pool_backward(CUDNN_POOLING_MAX, x, y, dy, dx, s);
}
void avg_pool_forward(const float* x, float* y, int32_t*, const PoolShape& s) {
    pool_forward(CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, x, y, s);
}
void avg_pool_backward(const float* x, const float* y, const int32_t*, const float* dy, float* dx, const PoolShape& s) {
    pool_backward(CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, x, y, dy, dx, s);
}

namespace {
struct ReluDesc {
    cudnnActivationDescriptor_t d{};
    ReluDesc() {
        NST_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d));
        NST_CUDNN_CHECK(cudnnSetActivationDescriptor(d, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
    }
    ~ReluDesc() { cudnnDestroyActivationDescriptor(d); }
};
}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
    if (n == 0) return;  // cuDNN rejects empty descriptors; there is nothing to do
    ReluDesc a;
    TensorDesc t(1, 1, 1, to_int(n, "relu"));
    NST_CUDNN_CHECK(cudnnActivationForward(handle(), a.d, &kOne, t.d, x, &kZero, t.d, y));
}
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
    // cuDNN asks for x too; for ReLU, y > 0 exactly where x > 0, so y stands in for x.
    if (n == 0) return;
    ReluDesc a;
    TensorDesc t(1, 1, 1, to_int(n, "relu"));
    NST_CUDNN_CHECK(cudnnActivationBackward(handle(), a.d, &kOne, t.d, y, t.d, dy, t.d, y, &kZero, t.d, dx));
}

}  // namespace nst::cudnn
