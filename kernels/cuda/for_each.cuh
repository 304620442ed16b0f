// One grid-stride loop for elementwise kernels: for_each(n, f) runs f(i) for i in [0, n) on the
// project stream and checks the launch. f is a small trivially-copyable functor.
#pragma once
#include "kernels/cuda/cuda_check.h"

namespace nst::cuda {

template <class F> __global__ void for_each_kernel(long long n, F f) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        f(i);
}

template <class F> void for_each(long long n, F f) {
    if (n <= 0) return;
    NST_LAUNCH(for_each_kernel<F>, grid_for(n), 256, 0, stream())(n, f);
    NST_CUDA_CHECK_LAUNCH();
}

}  // namespace nst::cuda
