// Where memory and work live, and the device runtime every layer may ask: is there a CUDA device,
// wait for it, copy bytes to and from it. Part of base/, the bottom layer: it includes nothing of the
// project but base/. Implemented in base/cuda_runtime.cpp (CUDA builds, real or CUDA-on-CPU) or
// base/no_cuda.cpp (CPU-only builds, where every CUDA request says why it cannot be done).
#pragma once
#include <cstddef>
#include <string>

namespace nst {

enum class DeviceKind { CPU, CUDA };

struct Device {
    DeviceKind kind = DeviceKind::CPU;
    int index = 0;
    static Device cpu() { return {DeviceKind::CPU, 0}; }
    static Device cuda(int index = 0) { return {DeviceKind::CUDA, index}; }
    bool is_cpu() const { return kind == DeviceKind::CPU; }
    bool is_cuda() const { return kind == DeviceKind::CUDA; }
    std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
    bool operator==(const Device&) const = default;
};

// Is there a CUDA device to run on? Answered once per process, in every build (a CPU-only build says
// "built without CUDA"). Tests use the reason string when they report themselves skipped.
struct CudaAvailability {
    int device_count = 0;
    std::string reason;       // why device_count is 0; empty when a device exists
    std::string device_name;  // of device 0
};

const CudaAvailability& cuda_availability();
inline bool cuda_available() { return cuda_availability().device_count > 0; }
// Whether this build has the CUDA code (run by a GPU, or by the CUDA-on-CPU layer in its test build):
// base/cuda_runtime.cpp says yes, base/no_cuda.cpp no.
bool built_with_cuda();

// Block until all queued device work has finished (no-op without CUDA). Kernel errors surface here.
void cuda_synchronize();

// Memory that a run could still take on a device, in bytes: the CPU's MemAvailable (/proc/meminfo; 0 when
// unknown), a CUDA device's free memory (cudaMemGetInfo on the current device; 0 without CUDA).
size_t available_memory(Device d);
size_t cuda_free_memory();  // the CUDA half of it

// Byte copies between host and device memory, ordered on the project stream. A copy to host memory
// waits for it to land; other copies are asynchronous.
void copy_bytes(void* dst, bool dst_on_cuda, const void* src, bool src_on_cuda, size_t bytes);
void zero_bytes(void* dst, bool on_cuda, size_t bytes);

}  // namespace nst
