// cuda_on_cpu runtime: device memory, copies, streams with capture, graphs, events, device properties
// and CUDA's error model (contract in include/cuda_runtime.h).
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cuda_on_cpu/internal.h"

struct CUstream_st {
    unsigned flags = 0;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
    std::vector<std::function<void()>> recorded;
};
struct CUgraph_st {
    std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
    std::shared_ptr<const std::vector<std::function<void()>>> ops;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point when{};
    bool recorded = false;
};

namespace cuda_on_cpu {
namespace {

// ---- errors ----
std::mutex g_error_mu;
cudaError_t g_sticky = cudaSuccess;
std::map<int, const char*> g_error_text;  // code -> CUDA's text plus the latest detail
std::set<std::string> g_interned;         // every text handed out stays valid (and is never freed)
thread_local cudaError_t t_last = cudaSuccess;

const char* base_string(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorLaunchTimeout: return "the launch timed out and was terminated";
        case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
        case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
        case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
        case cudaErrorStreamCaptureUnmatched: return "the capture was not initiated in this stream";
        case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
        default: return "unknown error";
    }
}

cudaError_t record(cudaError_t e, const std::string& detail, bool sticky) {
    std::fprintf(stderr, "cuda_on_cpu: %s: %s\n", base_string(e), detail.c_str());
    std::lock_guard<std::mutex> lock(g_error_mu);
    g_error_text[e] = g_interned.insert(std::string(base_string(e)) + " [cuda_on_cpu: " + detail + "]").first->c_str();
    if (sticky && g_sticky == cudaSuccess) g_sticky = e;
    t_last = e;
    return e;
}

// Every API call starts here: after a kernel fault, nothing runs until cudaDeviceReset.
cudaError_t blocked() {
    std::lock_guard<std::mutex> lock(g_error_mu);
    if (g_sticky != cudaSuccess) t_last = g_sticky;
    return g_sticky;
}

// ---- the device ----
bool device_present() {
    static const bool present = [] {
        const char* v = std::getenv("NST_CUDA_EMU_DEVICES");
        return !(v && std::string(v) == "0");
    }();
    return present;
}

size_t memory_capacity() {
    static const size_t cap = [] {
        const char* v = std::getenv("NST_CUDA_EMU_MEMORY_MIB");
        const long long mib = v ? std::atoll(v) : 16384;
        return size_t(mib > 0 ? mib : 16384) << 20;
    }();
    return cap;
}

// ---- device memory ----
std::mutex g_mem_mu;
std::map<uintptr_t, size_t> g_allocs;  // start -> bytes
size_t g_used = 0;

// ---- streams and captures ----
std::mutex g_stream_mu;
CUstream_st g_legacy_stream;
std::set<cudaStream_t> g_streams;

CUstream_st* resolve(cudaStream_t s) { return s ? s : &g_legacy_stream; }

// CUDA ends every capture in progress when a call that may not run during one is made: any call that
// waits for the device, and in the global and thread-local modes also "unsafe" ones such as cudaMalloc.
cudaError_t refuse_during_capture(const char* call, bool relaxed_ok) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    bool refused = false;
    for (cudaStream_t s : g_streams)
        if (s->capture == cudaStreamCaptureStatusActive && !(relaxed_ok && s->mode == cudaStreamCaptureModeRelaxed)) {
            s->capture = cudaStreamCaptureStatusInvalidated;
            refused = true;
        }
    if (!refused) return cudaSuccess;
    return fail(cudaErrorStreamCaptureUnsupported, std::string(call) + " while a stream is being captured");
}

// Whether p is inside some allocation (then a copy from or to it must stay inside that allocation).
bool in_device_memory(const void* p) { return device_range(p, 1); }

cudaError_t copy_checked(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* call) {
    if (kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection, call);
    if (bytes == 0) return cudaSuccess;
    const bool dst_dev = device_range(dst, bytes), src_dev = device_range(src, bytes);
    // Default (and the project's copy_bytes uses it) infers the sides: a pointer into device memory is
    // a device side, and then the whole range must lie in its allocation.
    const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && in_device_memory(dst));
    const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && in_device_memory(src));
    const auto d = reinterpret_cast<uintptr_t>(dst), sp = reinterpret_cast<uintptr_t>(src);
    if (d < sp + bytes && sp < d + bytes)  // undefined in CUDA (memcpy, not memmove)
        return fail(cudaErrorInvalidValue, std::string(call) + ": source and destination overlap");
    if ((want_dst && !dst_dev) || (want_src && !src_dev))
        return fail(cudaErrorInvalidValue, std::string(call) + ": the device side of a " + std::to_string(bytes) +
                                               "-byte copy is not inside one cudaMalloc allocation");
    return cudaSuccess;
}

}  // namespace

// ---- internal API ----
cudaError_t fail(cudaError_t err, const std::string& detail) { return record(err, detail, false); }
cudaError_t fault(cudaError_t err, const std::string& detail) { return record(err, detail, true); }
cudaError_t sticky_error() {
    std::lock_guard<std::mutex> lock(g_error_mu);
    return g_sticky;
}

void invalidate_capture(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    CUstream_st* s = resolve(stream);
    if (s->capture == cudaStreamCaptureStatusActive) s->capture = cudaStreamCaptureStatusInvalidated;
}

bool capturing(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    return resolve(stream)->capture != cudaStreamCaptureStatusNone;
}

bool valid_stream(cudaStream_t s) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    return s == nullptr || g_streams.count(s) > 0;
}

cudaError_t submit(cudaStream_t stream, std::function<void()> op) {
    if (cudaError_t e = blocked()) return e;
    {
        std::lock_guard<std::mutex> lock(g_stream_mu);
        CUstream_st* s = resolve(stream);
        if (s->capture == cudaStreamCaptureStatusActive) {
            s->recorded.push_back(std::move(op));
            return cudaSuccess;
        }
        if (s->capture == cudaStreamCaptureStatusInvalidated)
            return fail(cudaErrorStreamCaptureInvalidated, "work submitted to a stream whose capture was invalidated");
    }
    op();
    return sticky_error();
}

bool device_range(const void* p, size_t bytes) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(g_mem_mu);
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return false;
    --it;
    return a >= it->first && bytes <= it->second && a - it->first <= it->second - bytes;  // no overflow
}

int worker_count() {
    static const int n = [] {
        const char* v = std::getenv("NST_CUDA_EMU_WORKERS");
        const int k = v ? std::atoi(v) : int(std::thread::hardware_concurrency());
        return k > 0 ? k : 1;
    }();
    return n;
}

}  // namespace cuda_on_cpu

using namespace cuda_on_cpu;

// ---- device ----
cudaError_t cudaGetDeviceCount(int* count) {
    if (!count) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount(nullptr)");
    *count = device_present() ? 1 : 0;
    if (!device_present()) return fail(cudaErrorNoDevice, "NST_CUDA_EMU_DEVICES=0");
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (!device_present()) return fail(cudaErrorNoDevice, "NST_CUDA_EMU_DEVICES=0");
    if (!p || device != 0) return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: device " + std::to_string(device));
    *p = cudaDeviceProp{};
    std::snprintf(p->name, sizeof p->name, "cuda_on_cpu (CUDA emulated on the CPU, sm_90 model)");
    p->totalGlobalMem = memory_capacity();
    p->sharedMemPerBlock = 48 << 10;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = worker_count();
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    cudaDeviceProp p;
    if (cudaError_t e = cudaGetDeviceProperties(&p, device)) return e;
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(p.sharedMemPerBlock); break;
        case cudaDevAttrWarpSize: *value = p.warpSize; break;
        case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
        case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
        case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
        default: return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute not modelled");
    }
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return device_present() ? cudaSuccess : fail(cudaErrorNoDevice, "NST_CUDA_EMU_DEVICES=0");
}
cudaError_t cudaSetDevice(int device) {
    if (!device_present()) return fail(cudaErrorNoDevice, "NST_CUDA_EMU_DEVICES=0");
    if (device != 0) return fail(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): one device");
    return blocked();
}

cudaError_t cudaDeviceSynchronize() {
    if (cudaError_t e = blocked()) return e;
    return refuse_during_capture("cudaDeviceSynchronize", false);
}

// Unlike CUDA, streams stay valid (the project keeps one for the whole process); memory and errors go.
cudaError_t cudaDeviceReset() {
    {
        std::lock_guard<std::mutex> lock(g_mem_mu);
        for (auto& [start, bytes] : g_allocs) std::free(reinterpret_cast<void*>(start));
        g_allocs.clear();
        g_used = 0;
    }
    std::lock_guard<std::mutex> lock(g_error_mu);
    g_sticky = cudaSuccess;
    t_last = cudaSuccess;
    return cudaSuccess;
}

cudaError_t cudaGetLastError() {
    std::lock_guard<std::mutex> lock(g_error_mu);
    if (g_sticky != cudaSuccess) return g_sticky;
    const cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError() {
    std::lock_guard<std::mutex> lock(g_error_mu);
    return g_sticky != cudaSuccess ? g_sticky : t_last;
}
const char* cudaGetErrorString(cudaError_t e) {
    std::lock_guard<std::mutex> lock(g_error_mu);
    const auto it = g_error_text.find(e);
    return it != g_error_text.end() ? it->second : base_string(e);
}
const char* cudaGetErrorName(cudaError_t e) { return base_string(e); }

// ---- memory ----
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    if (cudaError_t e = blocked()) return e;
    if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc(nullptr, ...)");
    if (cudaError_t e = refuse_during_capture("cudaMalloc", true)) return e;
    *ptr = nullptr;
    if (bytes == 0) return cudaSuccess;
    if (bytes > memory_capacity())
        return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes: more than the device has");
    const size_t rounded = (bytes + 255) / 256 * 256;
    std::lock_guard<std::mutex> lock(g_mem_mu);
    if (g_used + rounded > memory_capacity())
        return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes: " +
                                                   std::to_string(g_used) + " of " + std::to_string(memory_capacity()) +
                                                   " in use (NST_CUDA_EMU_MEMORY_MIB)");
    void* p = std::aligned_alloc(256, rounded);
    if (!p) return fail(cudaErrorMemoryAllocation, "host memory exhausted");
    std::memset(p, 0xff, rounded);  // NaN everywhere: uninitialised reads show up
    g_allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
    g_used += rounded;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
    if (cudaError_t e = blocked()) return e;
    if (!ptr) return cudaSuccess;
    if (cudaError_t e = refuse_during_capture("cudaFree", true)) return e;
    std::lock_guard<std::mutex> lock(g_mem_mu);
    const auto it = g_allocs.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == g_allocs.end()) return fail(cudaErrorInvalidValue, "cudaFree of a pointer cudaMalloc did not return");
    g_used -= (it->second + 255) / 256 * 256;
    g_allocs.erase(it);
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    if (cudaError_t e = blocked()) return e;
    std::lock_guard<std::mutex> lock(g_mem_mu);
    *total_bytes = memory_capacity();
    *free_bytes = memory_capacity() - g_used;
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    if (cudaError_t e = blocked()) return e;
    if (cudaError_t e = copy_checked(dst, src, bytes, kind, "cudaMemcpy")) return e;
    if (cudaError_t e = refuse_during_capture("cudaMemcpy", true)) return e;
    if (bytes) std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
    if (cudaError_t e = blocked()) return e;
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: unknown stream");
    if (cudaError_t e = copy_checked(dst, src, bytes, kind, "cudaMemcpyAsync")) {
        invalidate_capture(stream);  // as CUDA does: a failed call ends the capture it was part of
        return e;
    }
    return submit(stream, [=] {
        if (bytes) std::memmove(dst, src, bytes);
    });
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) { return cudaMemsetAsync(dst, value, bytes, nullptr); }
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
    if (cudaError_t e = blocked()) return e;
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: unknown stream");
    if (bytes && !device_range(dst, bytes))
        return fail(cudaErrorInvalidValue, "cudaMemset of " + std::to_string(bytes) +
                                               " bytes outside one cudaMalloc allocation");
    return submit(stream, [=] { std::memset(dst, value, bytes); });
}

// ---- streams ----
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
    if (cudaError_t e = blocked()) return e;
    auto* s = new CUstream_st;
    s->flags = flags;
    std::lock_guard<std::mutex> lock(g_stream_mu);
    g_streams.insert(s);
    *stream = s;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    if (!g_streams.erase(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: unknown stream");
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (cudaError_t e = blocked()) return e;
    std::lock_guard<std::mutex> lock(g_stream_mu);
    if (stream && !g_streams.count(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: unknown stream");
    CUstream_st* s = resolve(stream);
    if (s->capture != cudaStreamCaptureStatusNone) {
        s->capture = cudaStreamCaptureStatusInvalidated;
        return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize on a stream being captured");
    }
    return cudaSuccess;  // its work is done: every operation ran when it was submitted
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    if (cudaError_t e = blocked()) return e;
    std::lock_guard<std::mutex> lock(g_stream_mu);
    if (!stream) return fail(cudaErrorStreamCaptureUnsupported, "the legacy default stream cannot be captured");
    if (!g_streams.count(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: unknown stream");
    if (stream->capture != cudaStreamCaptureStatusNone)
        return fail(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream is already being captured");
    stream->capture = cudaStreamCaptureStatusActive;
    stream->mode = mode;
    stream->recorded.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    *graph = nullptr;
    if (!stream || !g_streams.count(stream) || stream->capture == cudaStreamCaptureStatusNone)
        return fail(cudaErrorIllegalState, "cudaStreamEndCapture on a stream that is not being captured");
    const bool invalidated = stream->capture == cudaStreamCaptureStatusInvalidated;
    stream->capture = cudaStreamCaptureStatusNone;
    if (invalidated) {
        stream->recorded.clear();
        return fail(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture: the capture was invalidated");
    }
    *graph = new CUgraph_st{std::move(stream->recorded)};
    stream->recorded.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
    std::lock_guard<std::mutex> lock(g_stream_mu);
    if (stream && !g_streams.count(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamIsCapturing: unknown stream");
    *status = resolve(stream)->capture;
    return cudaSuccess;
}

// ---- graphs: an instantiated graph replays the recorded operations in order ----
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
    if (cudaError_t e = blocked()) return e;
    if (!graph) return fail(cudaErrorInvalidValue, "cudaGraphInstantiate(null graph)");
    *exec = new CUgraphExec_st{std::make_shared<const std::vector<std::function<void()>>>(graph->ops)};
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return fail(cudaErrorInvalidValue, "cudaGraphLaunch(null)");
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: unknown stream");
    auto ops = exec->ops;
    return submit(stream, [ops] {
        for (const auto& op : *ops) {
            if (sticky_error() != cudaSuccess) return;
            op();
        }
    });
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

// ---- events: host time stamps taken when the stream reaches them ----
cudaError_t cudaEventCreate(cudaEvent_t* event) {
    *event = new CUevent_st;
    return blocked();
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
    delete event;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord(null event)");
    if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: unknown stream");
    return submit(stream, [event] {
        event->when = std::chrono::steady_clock::now();
        event->recorded = true;
    });
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize(null event)");
    return blocked();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (cudaError_t e = blocked()) return e;
    if (!start || !end || !start->recorded || !end->recorded)
        return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was not recorded");
    *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
    return cudaSuccess;
}
