// CPU variant "fast" of the feed-forward networks' ops (feedforward_fast.cpp): threaded, vectorised
// versions of the reference kernels in cpu_kernels.h, float32 only, same contracts.
#pragma once
#include <cstdint>

#include "kernels/shapes.h"

namespace nst::cpu::fast {

void instance_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* invstd,
                           const InstanceNormShape& s, double eps);
void instance_norm_backward(const float* x, const float* w, const float* mean, const float* invstd, const float* dy, float* dx,
                            float* dw, float* db, const InstanceNormShape& s);
void reflection_pad_forward(const float* x, float* y, const PadShape& s);
void reflection_pad_backward(const float* dy, float* dx, const PadShape& s);
void resize_nearest_forward(const float* x, float* y, const ResizeShape& s);
void resize_nearest_backward(const float* dy, float* dx, const ResizeShape& s);
void sigmoid_forward(const float* x, float* y, int64_t n);
void sigmoid_backward(const float* y, const float* dy, float* dx, int64_t n);
void channel_affine_forward(const float* x, const float* a, const float* b, float* y, const InstanceNormShape& s);
void channel_affine_backward(const float* x, const float* a, const float* dy, float* dx, float* da, float* db,
                             const InstanceNormShape& s);
void plane_mean_forward(const float* x, float* out, int64_t planes, int64_t HW);
void plane_mean_backward(const float* dout, float* dx, int64_t planes, int64_t HW);
void quantize_forward(const float* x, float* y, const QuantShape& s);
void quantize_backward(const float* x, const float* dy, float* dx, const QuantShape& s);

}  // namespace nst::cpu::fast
