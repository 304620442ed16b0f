// cuda_on_cpu internals shared by runtime.cpp (memory, streams, errors, graphs), scheduler.cpp (kernel
// execution) and cublas.cpp. Not part of the emulated API.
#pragma once
#include <cuda_runtime.h>

#include <functional>
#include <string>

namespace cuda_on_cpu {

// Errors, as CUDA keeps them: `fail` records a per-host-thread error that cudaGetLastError returns and
// clears (bad arguments, bad launch configurations); `fault` records a sticky one (a fault inside a
// kernel) that every later call returns until cudaDeviceReset. Both print one line to stderr, and the
// detail is appended to cudaGetErrorString's text for that code.
cudaError_t fail(cudaError_t err, const std::string& detail);
cudaError_t fault(cudaError_t err, const std::string& detail);
cudaError_t sticky_error();  // cudaSuccess unless a kernel has faulted

// Runs `op` now (every stream is in order and synchronous), or appends it to the stream's capture.
// Returns the sticky error, if any, without running or recording anything.
cudaError_t submit(cudaStream_t stream, std::function<void()> op);
bool valid_stream(cudaStream_t stream);
bool capturing(cudaStream_t stream);
// A call that fails on a stream being captured invalidates that capture (cudaStreamEndCapture then fails).
void invalidate_capture(cudaStream_t stream);

// Whether [p, p + bytes) lies inside one live cudaMalloc allocation.
bool device_range(const void* p, size_t bytes);

// Host threads that run blocks (NST_CUDA_EMU_WORKERS, default all cores).
int worker_count();

}  // namespace cuda_on_cpu
