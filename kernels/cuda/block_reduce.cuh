// Block-wide sum: warp shuffles, then one warp over the per-warp sums. Result valid in thread 0.
#pragma once

namespace nst::cuda {

template <class T> __device__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

// blockDim.x must be a multiple of 32 and at most 1024.
template <class T> __device__ T block_sum(T v) {
    __shared__ T warp_sums[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    const int nwarps = blockDim.x >> 5;
    v = threadIdx.x < nwarps ? warp_sums[threadIdx.x] : T(0);
    if (warp == 0) v = warp_sum(v);
    __syncthreads();  // warp_sums may be reused by a following call
    return v;
}

}  // namespace nst::cuda
