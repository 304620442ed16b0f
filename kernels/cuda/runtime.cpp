// CUDA runtime plumbing: availability query, error reporting, the project stream.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/device.h"

namespace nst {

const CudaAvailability& cuda_availability() {
    static const CudaAvailability a = [] {
        CudaAvailability r;
        int count = 0;
        const cudaError_t err = cudaGetDeviceCount(&count);
        if (err != cudaSuccess) {
            r.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
            (void)cudaGetLastError();  // clear the sticky error so later queries start clean
        } else if (count == 0) {
            r.reason = "no CUDA device present";
        } else {
            r.device_count = count;
            cudaDeviceProp prop{};
            if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) r.device_name = prop.name;
        }
        return r;
    }();
    return a;
}

void cuda_synchronize() {
    if (cuda_available()) NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

void copy_bytes(void* dst, bool dst_on_cuda, const void* src, bool src_on_cuda, size_t bytes) {
    if (bytes == 0) return;
    if (!dst_on_cuda && !src_on_cuda) {
        std::memcpy(dst, src, bytes);
        return;
    }
    NST_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda::stream()));
    if (!dst_on_cuda) NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

void zero_bytes(void* dst, bool on_cuda, size_t bytes) {
    if (on_cuda)
        NST_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda::stream()));
    else
        std::memset(dst, 0, bytes);
}

namespace {
// The workspace buffer (cuda::workspace below), and the outgrown ones kept for CUDA graphs. A captured
// graph writes the buffer it was captured with on every replay, so freeing that buffer when the workspace
// grows would let the graph write into memory cudaMalloc hands to someone else. While a graph lives or is
// being captured (kernels/device.h: hold/release), an outgrown buffer is retired instead, and retired
// buffers are freed when the last hold goes.
struct Workspace {
    void* ptr = nullptr;
    size_t capacity = 0;
    int holds = 0;                // graphs alive or being captured
    std::vector<void*> retired;   // outgrown while holds > 0: a graph may still write them on replay
};
Workspace& workspace_state() {
    static Workspace w;
    return w;
}
}  // namespace

void cuda_workspace_hold() { ++workspace_state().holds; }

void cuda_workspace_release() {
    Workspace& w = workspace_state();
    if (--w.holds > 0 || w.retired.empty()) return;
    NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));  // a replay may still be writing them
    for (void* p : w.retired) NST_CUDA_CHECK(cudaFree(p));
    w.retired.clear();
}

namespace cuda {

void fail(cudaError_t err, const char* expr, const char* file, int line) {
    throw Error(std::string("CUDA error '") + cudaGetErrorString(err) + "' in " + expr + " at " + file +
                ":" + std::to_string(line));
}

void check_launch(const char* file, int line) {
    check(cudaGetLastError(), "kernel launch", file, line);
    static const bool sync = [] {
        const char* v = std::getenv("NST_CUDA_SYNC");
        return v && std::string(v) == "1";
    }();
    if (sync) {
        // Not while a CUDA graph is being captured: the stream cannot be waited on then.
        cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
        check(cudaStreamIsCapturing(stream(), &capturing), "cudaStreamIsCapturing", file, line);
        if (capturing == cudaStreamCaptureStatusNone)
            check(cudaStreamSynchronize(stream()), "kernel execution (NST_CUDA_SYNC=1)", file, line);
    }
}

void require_tf32_tensor_cores(const char* what) {
    int dev = 0, major = 0;
    NST_CUDA_CHECK(cudaGetDevice(&dev));
    NST_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    if (major < 8) throw Error(std::string(what) + ": TF32 tensor cores need compute capability 8.0 or newer");
}

void* workspace(size_t bytes) {
    Workspace& w = workspace_state();
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

cudaStream_t stream() {
    static cudaStream_t s = [] {
        if (!cuda_available()) throw Error("no CUDA device: " + cuda_availability().reason);
        cudaStream_t st{};
        NST_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
        return st;
    }();
    return s;
}

}  // namespace cuda
}  // namespace nst
