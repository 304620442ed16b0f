// Is there a CUDA device to run on? Answered once per process, in every build (a CPU-only build says
// "built without CUDA"). Tests use the reason string when they report themselves skipped.
#pragma once
#include <string>

namespace nst {

struct CudaAvailability {
    int device_count = 0;
    std::string reason;  // why device_count is 0; empty when a device exists
    std::string device_name;  // of device 0
};

const CudaAvailability& cuda_availability();
inline bool cuda_available() { return cuda_availability().device_count > 0; }

// Block until all queued device work has finished (no-op without CUDA). Kernel errors surface here.
void cuda_synchronize();

}  // namespace nst

namespace nst {

// Whether library variants (cuDNN, cuBLAS) may use TF32 tensor cores. Off by default, so every variant
// computes in full fp32 and can be compared with the reference at 1e-4; NST_ALLOW_TF32=1 turns it on.
bool allow_tf32();
void set_allow_tf32(bool on);

}  // namespace nst

namespace nst {

// Byte copies between host and device memory, ordered on the project stream. A copy to host memory
// waits for it to land; other copies are asynchronous.
void copy_bytes(void* dst, bool dst_on_cuda, const void* src, bool src_on_cuda, size_t bytes);
void zero_bytes(void* dst, bool on_cuda, size_t bytes);

// A CUDA graph replays with the addresses of its capture, the library workspace's included
// (cuda::workspace, kernels/cuda/runtime.cpp). core/cuda_graph.cpp holds the workspace from the start
// of a capture until the graph is destroyed; while any hold is on, a workspace that must grow keeps its
// old buffer (freed when the last hold is released) instead of freeing it under the graph.
void cuda_workspace_hold();
void cuda_workspace_release();

}  // namespace nst
