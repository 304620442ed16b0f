// The variant tables. Order matters: the first non-library row of a device is its default (on the CPU
// that is the OpenBLAS conv when it was built; the reference kernels stay the spec the tests compare to).
#include "kernels/registry.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/feedforward_fast.h"
#include "kernels/cpu/threaded.h"
#include "kernels/cpu/cpu_gemm_kernels.h"
#include "base/device.h"
#ifdef NST_HAVE_CUDA
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cublas/cublas_kernels.h"
#endif
#ifdef NST_HAVE_CUDNN
#include "kernels/cudnn/cudnn_kernels.h"
#endif

namespace nst {

namespace {
bool& tf32_flag() {
    static bool on = [] {
        const char* v = std::getenv("NST_ALLOW_TF32");
        return v && std::string(v) == "1";
    }();
    return on;
}
}  // namespace
bool allow_tf32() { return tf32_flag(); }
void set_allow_tf32(bool on) { tf32_flag() = on; }

void set_cpu_threads(int n) {
    if (n > 0) cpu::set_pool_threads(n);
}
int cpu_threads() { return cpu::pool_threads(); }

bool built_with_cudnn() {
#ifdef NST_HAVE_CUDNN
    return true;
#else
    return false;
#endif
}
std::string cudnn_absence() {
#if defined(NST_CUDA_EMULATION)
    return "this build runs CUDA on the CPU (NST_CUDA_EMULATION), where cuDNN cannot run";
#elif defined(NST_HAVE_CUDNN)
    return "";
#else
    return "this build has no cuDNN (see the cmake warning)";
#endif
}

namespace {

// ---- CPU: the reference kernels, float32 instantiations ----
const Conv2dVariant kConvCpu[] = {
    // F(4x4,3x3) for 3x3 stride-1 layers (pad 1, or none), the direct kernel for unpadded thin or small 3x3 convs,
    // im2col+GEMM for the others, on the project's GEMM
    // (kernels/cpu/gemm.h; docs/performance.md).
    {"winograd", false, cpu::conv2d_forward_winograd, cpu::conv2d_backward_data_winograd, cpu::conv2d_backward_weight_direct_or_gemm,
     cpu::conv2d_backward_bias<float>, cpu::conv2d_prepared_size_winograd, cpu::conv2d_prepare_winograd,
     cpu::conv2d_forward_winograd_prepared, cpu::conv2d_backward_data_winograd_prepared},
    {"direct", false, cpu::conv2d_forward_direct_or_gemm, cpu::conv2d_backward_data_direct_or_gemm,
     cpu::conv2d_backward_weight_direct_or_gemm,
     cpu::conv2d_backward_bias<float>, nullptr, nullptr, nullptr, nullptr},
    {"im2col_gemm", false, cpu::conv2d_forward_gemm, cpu::conv2d_backward_data_gemm, cpu::conv2d_backward_weight_gemm,
     cpu::conv2d_backward_bias<float>, nullptr, nullptr, nullptr, nullptr},
#ifdef NST_HAVE_OPENBLAS
    // The library yardstick: im2col on OpenBLAS's SGEMM.
    {"blas", true, cpu::conv2d_forward_blas, cpu::conv2d_backward_data_blas, cpu::conv2d_backward_weight_blas,
     cpu::conv2d_backward_bias<float>, nullptr, nullptr, nullptr, nullptr},
#endif
    {"reference", false, cpu::conv2d_forward<float>, cpu::conv2d_backward_data<float>,
     cpu::conv2d_backward_weight<float>, cpu::conv2d_backward_bias<float>, nullptr, nullptr, nullptr, nullptr},
};
const ReluVariant kReluCpu[] = {{"threaded", false, cpu::threaded::relu_forward, cpu::threaded::relu_backward},
                                 {"reference", false, cpu::relu_forward<float>, cpu::relu_backward<float>}};
const PoolVariant kMaxPoolCpu[] = {
    {"threaded", false, true, cpu::threaded::max_pool_forward, cpu::threaded::max_pool_backward},
    {"reference", false, true, cpu::max_pool_forward<float>,
     [](const float* x, const float*, const int32_t* a, const float* dy, float* dx, const PoolShape& s) {
         cpu::max_pool_backward<float>(x, a, dy, dx, s);
     }},
};
const PoolVariant kAvgPoolCpu[] = {
    {"threaded", false, false, cpu::threaded::avg_pool_forward, cpu::threaded::avg_pool_backward},
    {"reference", false, false,
     [](const float* x, float* y, int32_t*, const PoolShape& s) { cpu::avg_pool_forward<float>(x, y, s); },
     [](const float*, const float*, const int32_t*, const float* dy, float* dx, const PoolShape& s) {
         cpu::avg_pool_backward<float>(dy, dx, s);
     }},
};
const GramVariant kGramCpu[] = {
    {"gemm", false, cpu::gram_forward_gemm, cpu::gram_backward_gemm},
#ifdef NST_HAVE_OPENBLAS
    {"blas", true, cpu::gram_forward_blas, cpu::gram_backward_blas},
#endif
    {"reference", false, cpu::gram_forward<float>, cpu::gram_backward<float>},
};
const VectorVariant kVectorCpu[] = {
    // Reductions and TV stay the reference's (threaded.cpp says why).
    {"threaded", false, cpu::threaded::add, cpu::threaded::sub, cpu::threaded::mul, cpu::threaded::scale,
     cpu::threaded::fill_scaled, cpu::threaded::fill, cpu::sum<float>, cpu::sum_squares<float>, cpu::mse<float>,
     cpu::threaded::mse_backward, cpu::threaded::sum_squares_backward, cpu::tv<float>, cpu::tv_backward<float>,
     cpu::crop_window<float>, cpu::paste_window<float>},
    {"reference", false, cpu::add<float>, cpu::sub<float>, cpu::mul<float>, cpu::scale<float>,
     cpu::fill_scaled<float>, cpu::fill<float>, cpu::sum<float>, cpu::sum_squares<float>, cpu::mse<float>, cpu::mse_backward<float>,
     cpu::sum_squares_backward<float>, cpu::tv<float>, cpu::tv_backward<float>, cpu::crop_window<float>,
     cpu::paste_window<float>},
};
const Blas1Variant kBlasCpu[] = {
    {"threaded", false, cpu::threaded::dot, cpu::threaded::axpy, cpu::threaded::scal, cpu::threaded::nrm2},
    {"reference", false, cpu::dot<float>, cpu::axpy<float>, cpu::scal<float>, cpu::nrm2<float>},
};

const OptimVariant kOptimCpu[] = {
    {"threaded", false, cpu::asum, cpu::scale_by_norm, cpu::threaded::axpy_s, cpu::threaded::scal_s, cpu::scalar_mul,
     cpu::scalar_sub, cpu::lbfgs_pair, cpu::lbfgs_first_step, cpu::adam_step},
    {"reference", false, cpu::asum, cpu::scale_by_norm, cpu::axpy_s, cpu::scal_s, cpu::scalar_mul, cpu::scalar_sub,
     cpu::lbfgs_pair, cpu::lbfgs_first_step, cpu::adam_step},
};

const FeedForwardVariant kFeedForwardCpu[] = {
    {"fast", false, cpu::fast::instance_norm_forward, cpu::fast::instance_norm_backward, cpu::mix_rows<float>,
     cpu::mix_rows_backward<float>, cpu::fast::reflection_pad_forward, cpu::fast::reflection_pad_backward,
     cpu::fast::resize_nearest_forward, cpu::fast::resize_nearest_backward, cpu::fast::sigmoid_forward,
     cpu::fast::sigmoid_backward, cpu::fast::channel_affine_forward, cpu::fast::channel_affine_backward,
     cpu::fast::plane_mean_forward, cpu::fast::plane_mean_backward, cpu::fast::quantize_forward,
     cpu::fast::quantize_backward},
    {"reference", false, cpu::instance_norm_forward<float>, cpu::instance_norm_backward<float>, cpu::mix_rows<float>,
     cpu::mix_rows_backward<float>, cpu::reflection_pad_forward<float>, cpu::reflection_pad_backward<float>,
     cpu::resize_nearest_forward<float>, cpu::resize_nearest_backward<float>, cpu::sigmoid_forward<float>,
     cpu::sigmoid_backward<float>, cpu::channel_affine_forward<float>, cpu::channel_affine_backward<float>,
     cpu::plane_mean_forward<float>, cpu::plane_mean_backward<float>, cpu::quantize_forward<float>,
     cpu::quantize_backward<float>},
};

#ifdef NST_HAVE_CUDA
// ---- CUDA: the project's kernels, then the libraries ----
const Conv2dVariant kConvCuda[] = {
    // The ladder of docs/kernels.md, naive first. The default is igemm (default_variant below).
    {"naive", false, cuda::conv2d_forward_naive, cuda::conv2d_backward_data_naive,
     cuda::conv2d_backward_weight_naive, cuda::conv2d_backward_bias_naive, nullptr, nullptr, nullptr, nullptr},
    {"smem", false, cuda::conv2d_forward_smem, cuda::conv2d_backward_data_smem, cuda::conv2d_backward_weight_naive,
     cuda::conv2d_backward_bias_naive, cuda::conv2d_prepared_size_flipped, cuda::conv2d_prepare_flipped,
     cuda::conv2d_forward_smem_prepared, cuda::conv2d_backward_data_smem_prepared},
    {"igemm", false, cuda::conv2d_forward_igemm, cuda::conv2d_backward_data_igemm, cuda::conv2d_backward_weight_naive,
     cuda::conv2d_backward_bias_naive, cuda::conv2d_prepared_size_flipped, cuda::conv2d_prepare_flipped,
     cuda::conv2d_forward_igemm_prepared, cuda::conv2d_backward_data_igemm_prepared},
    {"igemm_tf32", false, cuda::conv2d_forward_igemm_tf32, cuda::conv2d_backward_data_igemm_tf32,
     cuda::conv2d_backward_weight_naive, cuda::conv2d_backward_bias_naive, cuda::conv2d_prepared_size_flipped,
     cuda::conv2d_prepare_flipped, cuda::conv2d_forward_igemm_tf32_prepared, cuda::conv2d_backward_data_igemm_tf32_prepared},
    {"igemm_mma_tf32", false, cuda::conv2d_forward_igemm_mma_tf32, cuda::conv2d_backward_data_igemm_mma_tf32,
     cuda::conv2d_backward_weight_naive, cuda::conv2d_backward_bias_naive, cuda::conv2d_prepared_size_flipped,
     cuda::conv2d_prepare_flipped, cuda::conv2d_forward_igemm_mma_tf32_prepared,
     cuda::conv2d_backward_data_igemm_mma_tf32_prepared},
    {"igemm128", false, cuda::conv2d_forward_igemm128, cuda::conv2d_backward_data_igemm128,
     cuda::conv2d_backward_weight_naive, cuda::conv2d_backward_bias_naive, cuda::conv2d_prepared_size_flipped,
     cuda::conv2d_prepare_flipped, cuda::conv2d_forward_igemm128_prepared, cuda::conv2d_backward_data_igemm128_prepared},
#ifdef NST_HAVE_CUDNN
    {"cudnn", true, cudnn::conv2d_forward, cudnn::conv2d_backward_data, cudnn::conv2d_backward_weight,
     cudnn::conv2d_backward_bias, nullptr, nullptr, nullptr, nullptr},
    // cuDNN's best: the fastest algorithm cudnnFind times per shape (the library backend keeps "cudnn").
    {"cudnn_best", true, cudnn::conv2d_forward_best, cudnn::conv2d_backward_data_best, cudnn::conv2d_backward_weight,
     cudnn::conv2d_backward_bias, nullptr, nullptr, nullptr, nullptr},
#endif
};
const ReluVariant kReluCuda[] = {
    {"naive", false, cuda::relu_forward, cuda::relu_backward},
#ifdef NST_HAVE_CUDNN
    {"cudnn", true, cudnn::relu_forward, cudnn::relu_backward},
#endif
};
const PoolVariant kMaxPoolCuda[] = {
    {"naive", false, true, cuda::max_pool_forward_naive, cuda::max_pool_backward_naive},
#ifdef NST_HAVE_CUDNN
    {"cudnn", true, false, cudnn::max_pool_forward, cudnn::max_pool_backward},
#endif
};
const PoolVariant kAvgPoolCuda[] = {
    {"naive", false, false, cuda::avg_pool_forward_naive, cuda::avg_pool_backward_naive},
#ifdef NST_HAVE_CUDNN
    {"cudnn", true, false, cudnn::avg_pool_forward, cudnn::avg_pool_backward},
#endif
};
const GramVariant kGramCuda[] = {
    {"naive", false, cuda::gram_forward_naive, cuda::gram_backward_naive},
    {"tiled", false, cuda::gram_forward_tiled, cuda::gram_backward_gemm},
    {"syrk", false, cuda::gram_forward_syrk, cuda::gram_backward_gemm},
    {"syrk_tf32", false, cuda::gram_forward_syrk_tf32, cuda::gram_backward_gemm},
    {"syrk_mma_tf32", false, cuda::gram_forward_syrk_mma_tf32, cuda::gram_backward_mma_tf32},
    {"cublas", true, cublas::gram_forward, cublas::gram_backward},
};
const VectorVariant kVectorCuda[] = {
    {"naive", false, cuda::add, cuda::sub, cuda::mul, cuda::scale, cuda::fill_scaled, cuda::fill, cuda::sum, cuda::sum_squares,
     cuda::mse, cuda::mse_backward, cuda::sum_squares_backward, cuda::tv, cuda::tv_backward, cuda::crop_window,
     cuda::paste_window},
};
const Blas1Variant kBlasCuda[] = {
    {"naive", false, cuda::dot, cuda::axpy, cuda::scal, cuda::nrm2},
    {"cublas", true, cublas::dot, cublas::axpy, cublas::scal, cublas::nrm2},
};
const FeedForwardVariant kFeedForwardCuda[] = {
    {"naive", false, cuda::instance_norm_forward, cuda::instance_norm_backward, cuda::mix_rows, cuda::mix_rows_backward,
     cuda::reflection_pad_forward, cuda::reflection_pad_backward, cuda::resize_nearest_forward,
     cuda::resize_nearest_backward, cuda::sigmoid_forward, cuda::sigmoid_backward, cuda::channel_affine_forward,
     cuda::channel_affine_backward, cuda::plane_mean_forward, cuda::plane_mean_backward, cuda::quantize_forward,
     cuda::quantize_backward},
};
const OptimVariant kOptimCuda[] = {
    {"naive", false, cuda::asum, cuda::scale_by_norm, cuda::axpy_s, cuda::scal_s, cuda::scalar_mul, cuda::scalar_sub,
     cuda::lbfgs_pair, cuda::lbfgs_first_step, cuda::adam_step},
};
#endif

}  // namespace

const char* default_variant(const char* op, DeviceKind d) {
    // On CUDA, the fastest fp32 rungs: they passed every CUDA test and compute-sanitizer memcheck on an
    // H200 (2026-11-28, scripts/gpu-check.sh), and run one evaluation at 512 px in 14 ms against naive's
    // ~140 ms (docs/kernels.md). The TF32 rungs stay opt-in: they are not fp32-accurate.
    if (d != DeviceKind::CUDA) return nullptr;
    const std::string o = op;
    if (o == "conv2d") return "igemm";
    if (o == "gram") return "syrk";
    return nullptr;
}

// A CPU-only build has no CUDA rows: the empty span makes core report "no kernels for cuda".
#ifdef NST_HAVE_CUDA
#define NST_TABLES(cpu_t, cuda_t) \
    if (d == DeviceKind::CPU) return cpu_t; \
    return cuda_t
#else
#define NST_TABLES(cpu_t, cuda_t) \
    if (d == DeviceKind::CPU) return cpu_t; \
    return {}
#endif

std::span<const Conv2dVariant> conv2d_variants(DeviceKind d) { NST_TABLES(kConvCpu, kConvCuda); }
std::span<const ReluVariant> relu_variants(DeviceKind d) { NST_TABLES(kReluCpu, kReluCuda); }
std::span<const PoolVariant> max_pool_variants(DeviceKind d) { NST_TABLES(kMaxPoolCpu, kMaxPoolCuda); }
std::span<const PoolVariant> avg_pool_variants(DeviceKind d) { NST_TABLES(kAvgPoolCpu, kAvgPoolCuda); }
std::span<const GramVariant> gram_variants(DeviceKind d) { NST_TABLES(kGramCpu, kGramCuda); }
std::span<const VectorVariant> vector_variants(DeviceKind d) { NST_TABLES(kVectorCpu, kVectorCuda); }
std::span<const Blas1Variant> blas1_variants(DeviceKind d) { NST_TABLES(kBlasCpu, kBlasCuda); }
std::span<const OptimVariant> optim_variants(DeviceKind d) { NST_TABLES(kOptimCpu, kOptimCuda); }
std::span<const FeedForwardVariant> feedforward_variants(DeviceKind d) { NST_TABLES(kFeedForwardCpu, kFeedForwardCuda); }

}  // namespace nst
