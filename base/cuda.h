// CUDA error checking, launches and the stream every project kernel and library call runs on. Part of
// base/, the bottom layer (CUDA builds only: real CUDA, or the CUDA-on-CPU layer's cuda_runtime.h);
// implemented in base/cuda_runtime.cpp.
// Every CUDA runtime call is wrapped in NST_CUDA_CHECK and every launch is followed by
// NST_CUDA_CHECK_LAUNCH; failures throw nst::Error naming the call, file and line.
// Set NST_CUDA_SYNC=1 to synchronise after each launch, so an asynchronous fault names its kernel.
#pragma once
#include <cuda_runtime.h>

#include "base/error.h"

namespace nst::cuda {

[[noreturn]] void fail(cudaError_t err, const char* expr, const char* file, int line);
inline void check(cudaError_t err, const char* expr, const char* file, int line) {
    if (err != cudaSuccess) fail(err, expr, file, line);
}
void check_launch(const char* file, int line);

// The project's stream (non-blocking, created on first use). One stream keeps ordering simple and
// makes the whole iteration capturable as a CUDA graph.
cudaStream_t stream();

// Grid size for a grid-stride loop over n elements.
inline unsigned grid_for(long long n, int block = 256) {
    long long g = (n + block - 1) / block;
    if (g < 1) g = 1;
    if (g > 65535LL * 8) g = 65535LL * 8;
    return unsigned(g);
}

}  // namespace nst::cuda

#define NST_CUDA_CHECK(expr) ::nst::cuda::check((expr), #expr, __FILE__, __LINE__)
#define NST_CUDA_CHECK_LAUNCH() ::nst::cuda::check_launch(__FILE__, __LINE__)

// Every kernel launch in the project is written NST_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...):
// CUDA's <<<>>> under nvcc; in the -DNST_CUDA_EMULATION=ON build (cuda_on_cpu/, docs/architecture.md),
// where the host compiler cannot parse <<<>>>, the launcher that runs every CUDA thread as a fiber on the CPU.
// A kernel template is named with its arguments: NST_LAUNCH(for_each_kernel<F>, ...).
#ifdef NST_CUDA_EMULATION
#define NST_LAUNCH(kernel, grid, block, shared_bytes, stream) \
    ::cuda_on_cpu::launcher(kernel, #kernel, grid, block, shared_bytes, stream)
#else
#define NST_LAUNCH(kernel, grid, block, shared_bytes, stream) kernel<<<grid, block, shared_bytes, stream>>>
#endif
