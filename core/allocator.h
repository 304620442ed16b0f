// Memory for tensors. CPU: 64-byte aligned heap blocks, the large ones cached for reuse. CUDA: a
// caching allocator.
//
// The CUDA allocator keeps freed blocks in per-size free lists and hands them out again for requests of
// the same rounded size, so once an iteration's shapes have been seen, a steady-state loop never calls
// cudaMalloc (stats().cuda_mallocs stops growing; tests check this). All device work runs on one stream,
// so a block freed on the host can be reused by later work without waiting. On out-of-memory the cache is
// released and the allocation retried once before throwing an error that gives the sizes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace nst {

void* allocate(Device device, size_t bytes);
void deallocate(Device device, void* ptr, size_t bytes);

struct CudaMemoryStats {
    size_t bytes_in_use = 0;       // handed out to tensors now
    size_t peak_bytes_in_use = 0;  // since start or the last reset_peak()
    size_t bytes_cached = 0;       // freed, kept for reuse
    int64_t cuda_mallocs = 0;      // calls to cudaMalloc so far
};
CudaMemoryStats cuda_memory_stats();
void cuda_reset_peak();

// Host tensors' bytes: handed out now, and the most since start or the last cpu_reset_peak().
struct CpuMemoryStats {
    size_t bytes_in_use = 0;
    size_t peak_bytes_in_use = 0;
    size_t bytes_cached = 0;  // freed, kept for reuse
};
CpuMemoryStats cpu_memory_stats();
void cpu_reset_peak();
// The cached host blocks back to the system (with the C library's free memory): what a phase of other
// shapes left behind, such as a scale's setup (the style image's activations), which the tiled loop
// never asks for again but which would otherwise stay resident.
void cpu_empty_cache();
void cuda_empty_cache();  // return cached blocks to the driver

// CUDA graph memory (used by core/cuda_graph.h): between begin and end, CUDA blocks are handed out from,
// and afterwards stay reserved to, the returned pool until it is released.
int cuda_graph_pool_begin();
void cuda_graph_pool_end();
void cuda_graph_pool_release(int id);

// The device index CUDA tensors must use (the process's current device; set it before any CUDA work).
int cuda_device_index();
void set_cuda_device(int index);

}  // namespace nst
