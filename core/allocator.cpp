// CPU and caching CUDA allocators (contract in allocator.h).
#include "core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <new>
#include <string>
#include <unordered_map>

#include "base/device.h"
#include "base/error.h"
#ifdef NST_HAVE_CUDA
#include "kernels/cuda/cuda_check.h"
#endif

namespace nst {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F64: return 8;
        case DType::I32: return 4;
    }
    return 0;
}
const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "f32";
        case DType::F64: return "f64";
        case DType::I32: return "i32";
    }
    return "?";
}

namespace {

constexpr size_t kCpuAlign = 64;

// Request sizes are rounded so that blocks are reusable across slightly different requests:
// 512 B granularity up to 1 MiB, then 2 MiB granularity.
size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    const size_t small = 512, large = size_t(2) << 20;
    return bytes < (size_t(1) << 20) ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
}

// Freed blocks by rounded size, handed out again for requests of exactly that size. Shared by the CPU
// and CUDA caches; the owner holds its mutex around every call.
struct FreeBlocks {
    std::multimap<size_t, void*> blocks;
    size_t bytes = 0;
    void* take(size_t size) {
        auto it = blocks.find(size);
        if (it == blocks.end()) return nullptr;
        void* p = it->second;
        blocks.erase(it);
        bytes -= size;
        return p;
    }
    // The smallest block of at least `size` and at most `most` bytes (its size in `got`), or null.
    void* take_fit(size_t size, size_t most, size_t& got) {
        auto it = blocks.lower_bound(size);
        if (it == blocks.end() || it->first > most) return nullptr;
        got = it->first;
        void* p = it->second;
        blocks.erase(it);
        bytes -= got;
        return p;
    }
    void put(size_t size, void* p) {
        blocks.emplace(size, p);
        bytes += size;
    }
    template <class Free> void release_all(Free free_block) {
        for (auto& [size, p] : blocks) free_block(p);
        blocks.clear();
        bytes = 0;
    }
};

// Large host blocks are cached too: glibc serves them with mmap and returns them with munmap, so an
// iteration that frees and reallocates its activations would page-fault through all of them again.
// Blocks of at least kCpuCacheMin bytes are kept, up to kCpuCacheMax cached bytes; the rest is freed.
// A request takes the smallest cached block of up to twice its size, not only one of its own size: a
// tiled evaluation's tiles come in several shapes (the edge tiles' windows are smaller), and with exact
// sizes each shape kept blocks of its own (VGG-19 at 1024 px in tiles of 128: 673 MiB cached for a loop
// whose tensors grow by 155 MiB). `sizes` remembers each large block's own size for its return.
constexpr size_t kCpuCacheMin = size_t(256) << 10, kCpuCacheMax = size_t(2) << 30;
struct CpuCache {
    std::mutex mu;
    FreeBlocks free;
    std::unordered_map<void*, size_t> sizes;  // every large block handed out, by address
};
CpuCache& cpu_cache() {
    static CpuCache* c = new CpuCache;  // never destroyed, like the CUDA cache
    return *c;
}

std::atomic<size_t> g_cpu_in_use{0}, g_cpu_peak{0};

void count_cpu(size_t bytes, bool alloc) {
    if (!alloc) {
        g_cpu_in_use.fetch_sub(bytes, std::memory_order_relaxed);
        return;
    }
    const size_t now = g_cpu_in_use.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    size_t peak = g_cpu_peak.load(std::memory_order_relaxed);
    while (now > peak && !g_cpu_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
}

void* cpu_allocate(size_t bytes) {
    count_cpu(bytes, true);
    if (bytes >= kCpuCacheMin) {
        const size_t want = round_size(bytes);  // a multiple of 512: aligned_alloc's size rule holds
        CpuCache& c = cpu_cache();
        std::lock_guard<std::mutex> lock(c.mu);
        size_t got = 0;
        void* p = c.free.take_fit(want, 2 * want, got);
        if (!p) {
            p = std::aligned_alloc(kCpuAlign, want);
            if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
            got = want;
        }
        c.sizes[p] = got;
        return p;
    }
    const size_t size = (bytes + kCpuAlign - 1) / kCpuAlign * kCpuAlign;
    void* p = std::aligned_alloc(kCpuAlign, size ? size : kCpuAlign);
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
}

void cpu_deallocate(void* p, size_t bytes) {
    count_cpu(bytes, false);
    if (bytes >= kCpuCacheMin) {
        CpuCache& c = cpu_cache();
        std::lock_guard<std::mutex> lock(c.mu);
        const auto it = c.sizes.find(p);
        if (it == c.sizes.end()) return std::free(p);  // (every large block is in sizes: not reached)
        const size_t size = it->second;
        c.sizes.erase(it);
        if (c.free.bytes + size <= kCpuCacheMax) return c.free.put(size, p);
    }
    std::free(p);
}

int& current_cuda_device() {
    static int d = 0;
    return d;
}

#ifdef NST_HAVE_CUDA
// A CUDA graph's memory (core/cuda_graph.h): the blocks handed out while it was captured. A replay writes
// them again, so they must never go to another tensor while the graph lives: freed, they return to the
// graph's own free list, which only the capture itself draws from (safe: the capture is one stream, so
// a block freed and reused inside it replays in the same order).
struct GraphPool {
    FreeBlocks free;
    std::map<void*, size_t> owned;  // every block of this pool, by address
};

struct CudaCache {
    std::mutex mu;
    FreeBlocks free;
    CudaMemoryStats stats;  // bytes_cached is filled in from free.bytes when read
    std::map<int, GraphPool> pools;
    std::map<void*, int> pool_of;  // block -> its graph pool
    int capturing = -1, next_pool = 0;

    void release_all() {  // caller holds mu
        free.release_all([](void* p) { NST_CUDA_CHECK(cudaFree(p)); });
    }
};
CudaCache& cache() {
    static CudaCache* c = new CudaCache;  // never destroyed: tensors may be freed during static destruction
    return *c;
}

std::string mib(size_t b) { return std::to_string((b + (1 << 19)) >> 20) + " MiB"; }

void* cuda_allocate(size_t bytes) {
    if (!cuda_available()) throw Error("cannot allocate CUDA memory: " + cuda_availability().reason);
    CudaCache& c = cache();
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(c.mu);
    GraphPool* pool = c.capturing >= 0 ? &c.pools[c.capturing] : nullptr;
    void* p = pool ? pool->free.take(size) : nullptr;
    if (!p) p = c.free.take(size);
    if (!p) {
        cudaError_t err = cudaMalloc(&p, size);
        if (err == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
            c.release_all();
            err = cudaMalloc(&p, size);
        }
        if (err == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            throw Error("CUDA out of memory: tried to allocate " + mib(size) + " with " + mib(c.stats.bytes_in_use) +
                        " in use by tensors; the device has " + mib(free_b) + " free of " + mib(total_b));
        }
        NST_CUDA_CHECK(err);
        ++c.stats.cuda_mallocs;
    }
    if (pool && pool->owned.emplace(p, size).second) c.pool_of[p] = c.capturing;
    c.stats.bytes_in_use += size;
    if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
    return p;
}

void cuda_deallocate(void* p, size_t bytes) {
    CudaCache& c = cache();
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(c.mu);
    const auto owner = c.pool_of.find(p);
    if (owner != c.pool_of.end()) c.pools[owner->second].free.put(size, p);
    else c.free.put(size, p);
    c.stats.bytes_in_use -= size;
}
#endif

}  // namespace

void* allocate(Device device, size_t bytes) {
    if (device.is_cpu()) return cpu_allocate(bytes);
#ifdef NST_HAVE_CUDA
    if (device.index != current_cuda_device())
        throw Error("tensor on " + device.str() + " but the current CUDA device is cuda:" +
                    std::to_string(current_cuda_device()) + " (call set_cuda_device first)");
    return cuda_allocate(bytes);
#else
    (void)bytes;
    throw Error("cannot allocate on " + device.str() + ": " + cuda_availability().reason);
#endif
}

void deallocate(Device device, void* ptr, size_t bytes) {
    if (!ptr) return;
    if (device.is_cpu()) {
        cpu_deallocate(ptr, bytes);
        return;
    }
#ifdef NST_HAVE_CUDA
    cuda_deallocate(ptr, bytes);
#else
    (void)bytes;
#endif
}

int cuda_graph_pool_begin() {
#ifdef NST_HAVE_CUDA
    std::lock_guard<std::mutex> lock(cache().mu);
    if (cache().capturing >= 0) throw Error("CUDA graph capture: another capture is in progress");
    cache().capturing = cache().next_pool++;
    cache().pools[cache().capturing];
    return cache().capturing;
#else
    throw Error("CUDA graphs: this build has no CUDA");
#endif
}

void cuda_graph_pool_end() {
#ifdef NST_HAVE_CUDA
    std::lock_guard<std::mutex> lock(cache().mu);
    cache().capturing = -1;
#endif
}

void cuda_graph_pool_release(int id) {
#ifdef NST_HAVE_CUDA
    CudaCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    const auto it = c.pools.find(id);
    if (it == c.pools.end()) return;
    // Free blocks go back to the shared cache; blocks still held by tensors are simply disowned, so
    // they reach the shared cache when those tensors are freed.
    for (auto& [size, p] : it->second.free.blocks) c.free.put(size, p);
    for (const auto& [p, size] : it->second.owned) c.pool_of.erase(p);
    c.pools.erase(it);
#else
    (void)id;
#endif
}

CudaMemoryStats cuda_memory_stats() {
#ifdef NST_HAVE_CUDA
    std::lock_guard<std::mutex> lock(cache().mu);
    CudaMemoryStats st = cache().stats;
    st.bytes_cached = cache().free.bytes;
    for (const auto& [id, pool] : cache().pools) st.bytes_cached += pool.free.bytes;
    return st;
#else
    return {};
#endif
}

void cuda_reset_peak() {
#ifdef NST_HAVE_CUDA
    std::lock_guard<std::mutex> lock(cache().mu);
    cache().stats.peak_bytes_in_use = cache().stats.bytes_in_use;
#endif
}

void cuda_empty_cache() {
#ifdef NST_HAVE_CUDA
    if (!cuda_available()) return;
    NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
    std::lock_guard<std::mutex> lock(cache().mu);
    cache().release_all();
#endif
}

int cuda_device_index() { return current_cuda_device(); }

CpuMemoryStats cpu_memory_stats() {
    std::lock_guard<std::mutex> lock(cpu_cache().mu);
    return {g_cpu_in_use.load(), g_cpu_peak.load(), cpu_cache().free.bytes};
}
void cpu_reset_peak() { g_cpu_peak.store(g_cpu_in_use.load()); }

void cpu_empty_cache() {
    {
        std::lock_guard<std::mutex> lock(cpu_cache().mu);
        cpu_cache().free.release_all([](void* p) { std::free(p); });
    }
#ifdef __GLIBC__
    malloc_trim(0);  // glibc keeps freed heap pages (blocks under its mmap threshold) until asked
#endif
}

void set_cuda_device(int index) {
    // Called for the apps' --gpu flag: each refusal says what is wrong in the driver's words and how to
    // run on the CPU instead.
    const std::string flag = "--gpu " + std::to_string(index);
    const std::string cpu_hint = "; use --gpu -1 to run on the CPU";
#ifdef NST_HAVE_CUDA
    if (!cuda_available()) throw Error(flag + ": no usable CUDA device (" + cuda_availability().reason + ")" + cpu_hint);
    if (index < 0 || index >= cuda_availability().device_count)
        throw Error(flag + ": there is no CUDA device " + std::to_string(index) + " (found " +
                    std::to_string(cuda_availability().device_count) + ", numbered from 0)" + cpu_hint);
    NST_CUDA_CHECK(cudaSetDevice(index));
    current_cuda_device() = index;
#else
    throw Error(flag + ": " + cuda_availability().reason + cpu_hint);
#endif
}

}  // namespace nst
