// The device runtime of CUDA builds (contracts in base/device.h and base/cuda.h): availability, the
// project stream, byte copies, and the checks that turn CUDA errors into nst::Error.
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/cuda.h"
#include "base/device.h"

namespace nst {

bool built_with_cuda() { return true; }

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

size_t cuda_free_memory() {
    if (!cuda_available()) return 0;
    size_t free_bytes = 0, total_bytes = 0;
    NST_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return free_bytes;
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
