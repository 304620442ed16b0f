// The CPU kernels' threads: one small pool that the fast kernels (Winograd, im2col+GEMM, Gram,
// pointwise) split their loops over. The calling thread works too.
//
// Why our own pool and a single-threaded OpenBLAS: OpenBLAS's pthread workers spin in sched_yield for a
// while after each GEMM. Interleaved with our own threaded loops they took 15-25% of the cores
// (docs/performance.md), so OpenBLAS is set to one thread and called from inside the pool's chunks,
// each on its own block of the product. One pool, no oversubscription.
#pragma once
#include <cstdint>
#include <functional>

namespace nst::cpu {

void set_pool_threads(int n);  // n >= 1; the default is the machine's hardware threads (or $NST_THREADS)
int pool_threads();

// Runs fn(begin, end) on contiguous chunks covering [0, n), at most pool_threads() of them, each chunk
// at least `grain` long, and returns when every chunk is done. A call made from inside a chunk runs
// serially on the calling thread (no nesting). Exceptions thrown by fn are rethrown here.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// The calling thread's grow-only scratch buffer number `slot` (0 .. kScratchSlots-1), at least `floats`
// long. Kept for the thread's life, so kernels called again and again allocate nothing once warm. A
// kernel that needs two buffers at once uses two slots; the slots in use are named in parallel.cpp.
constexpr int kScratchSlots = 2;
float* thread_scratch(int slot, int64_t floats);

}  // namespace nst::cpu
