// The kernels' part of the CUDA runtime: the library workspace and its holds for CUDA graphs, and the
// TF32 guard (kernels/cuda/cuda_check.h). Availability, checks and the stream are base/cuda_runtime.cpp's.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/device.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/workspace.h"

namespace nst {

namespace {
// The workspace buffer (cuda::workspace below), and the outgrown ones kept for CUDA graphs. A captured
// graph writes the buffer it was captured with on every replay, so freeing that buffer when the workspace
// grows would let the graph write into memory cudaMalloc hands to someone else. While a graph lives or is
// being captured (kernels/workspace.h: hold/release), an outgrown buffer is retired instead, and retired
// buffers are freed when the last hold goes.
struct Workspace {
    void* ptr = nullptr;
    size_t capacity = 0;
    int holds = 0;                // graphs alive or being captured
    std::vector<void*> retired;   // outgrown while holds > 0: a graph may still write them on replay
};
Workspace& workspace_state(int slot = 0) {
    static Workspace w[cuda::kWorkspaceSlots];
    return w[slot];
}
}  // namespace

void cuda_workspace_hold() {
    for (int i = 0; i < cuda::kWorkspaceSlots; ++i) ++workspace_state(i).holds;
}

void cuda_workspace_release() {
    for (int i = 0; i < cuda::kWorkspaceSlots; ++i) {
        Workspace& w = workspace_state(i);
        if (--w.holds > 0 || w.retired.empty()) continue;
        NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));  // a replay may still be writing them
        for (void* p : w.retired) NST_CUDA_CHECK(cudaFree(p));
        w.retired.clear();
    }
}

namespace cuda {

void require_tf32_tensor_cores(const char* what) {
    // Asked once per device (a launch used to pay the runtime queries).
    thread_local int checked_dev = -1, major = 0, ptx = 0;
    int dev = 0;
    NST_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev != checked_dev) {
        NST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        ptx = tf32_kernel_ptx_version();
        checked_dev = dev;
    }
    if (major < 8) throw Error(std::string(what) + ": TF32 tensor cores need compute capability 8.0 or newer");
    // The device could, but the code it loads may come from PTX older than compute_80, whose TF32 bodies
    // trap (register_tile.cuh): CMAKE_CUDA_ARCHITECTURES "75" on any card, or "75;90" on an A100.
    if (ptx < 80)
        throw Error(std::string(what) + ": this build runs code from compute_" + std::to_string(ptx) +
                    " PTX on this device, which has no TF32 tensor-core path; rebuild with CMAKE_CUDA_ARCHITECTURES "
                    "holding this card's architecture (the default is \"80 90\")");
}

void* workspace(size_t bytes, int slot) {
    if (slot < 0 || slot >= kWorkspaceSlots) throw Error("workspace: no slot " + std::to_string(slot));
    Workspace& w = workspace_state(slot);
    if (bytes > w.capacity) {
        if (w.ptr && w.holds > 0) {
            w.retired.push_back(w.ptr);  // no wait either, so this may happen during a capture
        } else if (w.ptr) {
            NST_CUDA_CHECK(cudaStreamSynchronize(stream()));  // earlier users may still read it
            NST_CUDA_CHECK(cudaFree(w.ptr));
        }
        w.ptr = nullptr;
        w.capacity = 0;
        const size_t rounded = (bytes + (1u << 20) - 1) & ~size_t((1u << 20) - 1);
        NST_CUDA_CHECK(cudaMalloc(&w.ptr, rounded));
        w.capacity = rounded;
    }
    return w.ptr;
}

}  // namespace cuda
}  // namespace nst
