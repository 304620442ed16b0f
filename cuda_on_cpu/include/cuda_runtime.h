// cuda_on_cpu: the subset of the CUDA runtime API and device language this project uses, executed on
// the CPU. Included as <cuda_runtime.h> in the -DNST_CUDA_EMULATION=ON build (cuda_on_cpu/include comes
// first on the include path), where the .cu files are compiled by the host compiler.
//
// Contract (docs/architecture.md, "CUDA on the CPU"):
//   - Device memory is host memory behind cudaMalloc, tracked, 256-byte aligned and filled with a NaN
//     pattern on allocation (CUDA does not zero it either). Every copy and memset checks that its device
//     side lies inside one allocation.
//   - Every stream is in order and every operation completes before the call returns (streams and events
//     are ordered stand-ins: no concurrency, no timing). A stream being captured records operations
//     into a graph instead of running them; cudaGraphLaunch replays the record.
//   - A launch runs each CUDA thread as a fiber; blocks run one at a time per host worker. __shared__ is
//     per worker (static thread_local), so per running block. __syncthreads, warp intrinsics and the
//     end of a thread are the only scheduling points, so code that relies on anything else (implicit
//     warp lockstep) fails here as it may on a GPU.
//   - PTX that kernels issue as inline assembly (cuda_on_cpu/ptx.h): cvt.rna.tf32.f32; mma.sync m16n8k8
//     TF32, warp-collective like a shuffle, with the ISA's fragment layout; cp.async, deferred per CUDA
//     thread until the cp.async.wait_group that retires its commit group.
//   - Faults CUDA would show are reported loudly (stderr and the error string): bad launch
//     configurations (not sticky, like CUDA), and inside a kernel __trap, a barrier not reached by every
//     thread, warp masks naming lanes that do not take part, misaligned or non-device cp.async copies
//     and a thread ending with copies not waited for, deadlock (sticky, like CUDA: every later call fails
//     until cudaDeviceReset).
//   - Environment: NST_CUDA_EMU_WORKERS (host threads running blocks; default: all cores),
//     NST_CUDA_EMU_ORDER=forward|reverse|shuffle (the order blocks and threads are scheduled in),
//     NST_CUDA_EMU_SEED (for shuffle), NST_CUDA_EMU_DEVICES=0 (pretend there is no device),
//     NST_CUDA_EMU_MEMORY_MIB (device memory size, default 16384).
#pragma once
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <source_location>

#define NST_CUDA_ON_CPU 1

// ---- the device language: qualifiers become plain C++ ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// One copy per host worker; a worker runs one block at a time, so this is the block's shared memory.
#define __shared__ static thread_local
#define __constant__

// ---- vector types ----
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

// ---- runtime types ----
enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalState = 401,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchTimeout = 702,
    cudaErrorIllegalInstruction = 715,
    cudaErrorLaunchFailure = 719,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureWrongThread = 908,
    cudaErrorUnknown = 999,
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaStreamCaptureStatus {
    cudaStreamCaptureStatusNone = 0,
    cudaStreamCaptureStatusActive = 1,
    cudaStreamCaptureStatusInvalidated = 2,
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
typedef CUgraph_st* cudaGraph_t;
typedef CUgraphExec_st* cudaGraphExec_t;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major, minor;
    int multiProcessorCount;
    int l2CacheSize;
    int clockRate;
};

// ---- runtime API (cuda_on_cpu/runtime.cpp) ----
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);

// Opting a kernel in to more than 48 KB of dynamic shared memory, as CUDA requires before such a launch
// (up to 227 KB, an sm_90 block's limit). Launches check the kernel's limit (cuda_on_cpu/scheduler.cpp).
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
namespace cuda_on_cpu {
constexpr int kMaxOptInSharedBytes = 232448;
cudaError_t set_max_dynamic_shared(const void* kernel, int bytes);
size_t max_dynamic_shared(const void* kernel);  // 49152 unless raised
}  // namespace cuda_on_cpu
template <class... P> cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
    return cuda_on_cpu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
}
// What the loaded code of a kernel was compiled for: the layer models an sm_90 device running sm_90 code
// (compute_90 PTX), so both versions are 90, as on an H100 or H200 with the project's default build.
struct cudaFuncAttributes {
    int ptxVersion;     // the virtual architecture of the PTX the code came from, major * 10 + minor
    int binaryVersion;  // the architecture of the machine code that runs
};
template <class... P> cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, void (*kernel)(P...)) {
    if (!attr || !kernel) return cudaErrorInvalidValue;
    attr->ptxVersion = attr->binaryVersion = 90;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t err);
const char* cudaGetErrorName(cudaError_t err);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T> cudaError_t cudaMalloc(T** ptr, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(ptr), bytes); }
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---- the device side: thread indices, barriers, warp intrinsics (cuda_on_cpu/scheduler.cpp) ----
namespace cuda_on_cpu {

// One CUDA thread's view of itself; `current_index` points at the running fiber's (an atomic only so
// that ThreadSanitizer does not see the fibers of one host thread race on it).
struct ThreadIndex {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
extern thread_local std::atomic<const ThreadIndex*> current_index;
inline const ThreadIndex& current() { return *current_index.load(std::memory_order_relaxed); }

// A fault inside a kernel: ends the launch with a sticky error naming the kernel, block and thread.
[[noreturn]] void device_fault(const char* what);

void syncthreads(std::source_location where);
void syncwarp(unsigned mask, std::source_location where);
// The common step of every warp intrinsic: this lane offers `value` and asks for lane `src`'s; all lanes
// of `mask` must arrive with the same mask. Returns src's value; *ballot gets the mask's non-zero offers.
uint64_t warp_exchange(unsigned mask, uint64_t value, int src, unsigned* ballot, const char* op,
                       std::source_location where);
// This thread's lane within its warp (threads are numbered x fastest, then y, then z).
int lane_id();

template <class T> uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

}  // namespace cuda_on_cpu

#define threadIdx (::cuda_on_cpu::current().thread_idx)
#define blockIdx (::cuda_on_cpu::current().block_idx)
#define blockDim (::cuda_on_cpu::current().block_dim)
#define gridDim (::cuda_on_cpu::current().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads(std::source_location where = std::source_location::current()) {
    cuda_on_cpu::syncthreads(where);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
    cuda_on_cpu::syncwarp(mask, where);
}
inline unsigned __float_as_uint(float x) { return cuda_on_cpu::to_bits(x) & 0xffffffffu; }
inline float __uint_as_float(unsigned x) { return cuda_on_cpu::from_bits<float>(x); }
[[noreturn]] inline void __trap() { cuda_on_cpu::device_fault("__trap() called"); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32,
              std::source_location where = std::source_location::current()) {
    const int lane = cuda_on_cpu::lane_id(), base = lane & ~(width - 1);
    return cuda_on_cpu::from_bits<T>(cuda_on_cpu::warp_exchange(mask, cuda_on_cpu::to_bits(v),
                                                                base + (src_lane & (width - 1)), nullptr,
                                                                "__shfl_sync", where));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32,
                   std::source_location where = std::source_location::current()) {
    const int lane = cuda_on_cpu::lane_id(), seg = lane & (width - 1);
    const int src = seg + int(delta) < width ? lane + int(delta) : lane;
    return cuda_on_cpu::from_bits<T>(
        cuda_on_cpu::warp_exchange(mask, cuda_on_cpu::to_bits(v), src, nullptr, "__shfl_down_sync", where));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32,
                 std::source_location where = std::source_location::current()) {
    const int lane = cuda_on_cpu::lane_id(), seg = lane & (width - 1);
    const int src = seg - int(delta) >= 0 ? lane - int(delta) : lane;
    return cuda_on_cpu::from_bits<T>(
        cuda_on_cpu::warp_exchange(mask, cuda_on_cpu::to_bits(v), src, nullptr, "__shfl_up_sync", where));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                  std::source_location where = std::source_location::current()) {
    const int lane = cuda_on_cpu::lane_id(), src = lane ^ lane_mask;
    const bool inside = (src & ~(width - 1)) == (lane & ~(width - 1));
    return cuda_on_cpu::from_bits<T>(cuda_on_cpu::warp_exchange(mask, cuda_on_cpu::to_bits(v), inside ? src : lane,
                                                                nullptr, "__shfl_xor_sync", where));
}
inline unsigned __ballot_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
    unsigned ballot = 0;
    cuda_on_cpu::warp_exchange(mask, pred != 0, cuda_on_cpu::lane_id(), &ballot, "__ballot_sync", where);
    return ballot;
}
inline int __any_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
    return __ballot_sync(mask, pred, where) != 0;
}
inline int __all_sync(unsigned mask, int pred, std::source_location where = std::source_location::current()) {
    return __ballot_sync(mask, pred, where) == mask;
}

// ---- atomics: real atomic read-modify-writes (visible to ThreadSanitizer as such) ----
template <class T> T atomicAdd(T* address, T v) {
    return std::atomic_ref<T>(*address).fetch_add(v, std::memory_order_relaxed);
}
template <class T> T atomicExch(T* address, T v) {
    return std::atomic_ref<T>(*address).exchange(v, std::memory_order_relaxed);
}
template <class T> T atomicCAS(T* address, T compare, T v) {
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, v, std::memory_order_relaxed);
    return compare;
}
template <class T> T atomicMax(T* address, T v) {
    std::atomic_ref<T> a(*address);
    T old = a.load(std::memory_order_relaxed);
    while (old < v && !a.compare_exchange_weak(old, v, std::memory_order_relaxed)) {}
    return old;
}
template <class T> T atomicMin(T* address, T v) {
    std::atomic_ref<T> a(*address);
    T old = a.load(std::memory_order_relaxed);
    while (old > v && !a.compare_exchange_weak(old, v, std::memory_order_relaxed)) {}
    return old;
}

// ---- device math that the host library lacks ----
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
template <class T> inline T __ldg(const T* p) { return *p; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }

#include "cuda_on_cpu/launch.h"
