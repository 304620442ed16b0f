// cuDNN as variants of conv2d, pooling and ReLU: the yardstick for the project's own CUDA kernels.
// Math: full fp32 (CUDNN_FMA_MATH) unless allow_tf32() is on. Compiled only when cuDNN was found.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cudnn {

void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data(const float* dy, const float* w, float* dx, const ConvShape& s);
// cuDNN's best ("cudnn_best"): the fastest algorithm cudnnFind times, once per shape, within a workspace
// bound (NST_CUDNN_BEST_WORKSPACE_MIB, default 1024); may be non-deterministic. Weight and bias gradients
// are the heuristic ones above.
void conv2d_forward_best(const float* x, const float* w, const float* b, float* y, const ConvShape& s);
void conv2d_backward_data_best(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backward_weight(const float* x, const float* dy, float* dw, const ConvShape& s);
void conv2d_backward_bias(const float* dy, float* db, const ConvShape& s);

void max_pool_forward(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void max_pool_backward(const float* x, const float* y, const int32_t* argmax, const float* dy, float* dx,
                       const PoolShape& s);
void avg_pool_forward(const float* x, float* y, int32_t* argmax, const PoolShape& s);
void avg_pool_backward(const float* x, const float* y, const int32_t* argmax, const float* dy, float* dx,
                       const PoolShape& s);

void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);

}  // namespace nst::cudnn
