// BLAS-1 on tensors, for optimizers: not differentiable, and refused on tensors that require grad
// while grad mode is on (wrap optimizer steps in NoGradGuard). Results of dot/nrm2 are scalar tensors
// on the inputs' device, so an optimizer on the GPU can chain them without a host round trip.
#pragma once
#include "core/tensor.h"

namespace nst::blas {

Tensor dot(const Tensor& x, const Tensor& y);
Tensor nrm2(const Tensor& x);
void axpy(double alpha, const Tensor& x, Tensor& y);  // y += alpha x
void scal(double alpha, Tensor& x);                   // x *= alpha

}  // namespace nst::blas
