// Tensor-core and async-copy primitives for the mma rungs (conv2d igemm_mma, gram syrk_mma), written as
// the PTX instructions themselves rather than through the WMMA API: WMMA-TF32 lowers to HMMA.1684 fed by
// scalar generic loads (review of 2026-12-04), while mma.sync.m16n8k8 gives HMMA.1688 and lets the kernel
// choose its own shared-memory fragment loads.
//
// Under nvcc (sm_80+) each function is one inline-PTX instruction. In the CUDA-on-CPU build
// (NST_CUDA_ON_CPU) they call the layer's functional models (cuda_on_cpu/include/cuda_on_cpu/ptx.h):
// mma.sync is warp-collective and checked like a shuffle; cp.async copies are deferred until the
// cp.async.wait_group that covers them, so a kernel that reads shared memory before waiting reads stale
// data there as it may on a GPU.
//
// Fragment layout of mma.sync.m16n8k8 .row.col .f32.tf32.tf32.f32 (PTX ISA), g = lane / 4, t = lane % 4:
//   A (16x8, row-major):  a0 = A[g][t]    a1 = A[g+8][t]    a2 = A[g][t+4]    a3 = A[g+8][t+4]
//   B (8x8, "col"):       b0 = B[t][g]    b1 = B[t+4][g]          (B[k][n])
//   C, D (16x8):          c0 = C[g][2t]   c1 = C[g][2t+1]   c2 = C[g+8][2t]   c3 = C[g+8][2t+1]
#pragma once
#include <cstdint>

#if defined(NST_CUDA_ON_CPU)
#include <cuda_on_cpu/ptx.h>
#endif

// Dynamic shared memory (the launch's size, at most max_bytes), 16-byte aligned: extern __shared__ under
// nvcc; in the CUDA-on-CPU build one buffer of max_bytes per host worker (a worker runs one block at a
// time), as __shared__ is there.
#if defined(NST_CUDA_ON_CPU)
#define NST_DYNAMIC_SHARED(name, max_bytes) static thread_local __attribute__((aligned(16))) unsigned char name[max_bytes]
#else
#define NST_DYNAMIC_SHARED(name, max_bytes) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace nst::cuda {

// fp32 -> TF32 bit pattern, rounded to nearest with ties away from zero (cvt.rna.tf32.f32), as a .b32
// operand of mma.sync. NaN and infinity pass unchanged.
__device__ __forceinline__ uint32_t to_tf32(float x) {
#if defined(NST_CUDA_ON_CPU)
    return cuda_on_cpu::cvt_rna_tf32(x);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#else
    return __float_as_uint(x);  // never launched below sm_80 (require_tf32_tensor_cores)
#endif
}

// d += A·B on one warp, m16n8k8, TF32 inputs, fp32 accumulators; all 32 lanes must call it together.
__device__ __forceinline__ void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(NST_CUDA_ON_CPU)
    cuda_on_cpu::mma_m16n8k8_tf32(d, a, b, d);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();
#endif
}

// Asynchronous global -> shared copy of Bytes (4, 8 or 16; both addresses aligned to it) bytes, of which
// the first src_bytes are read and the rest zero-filled (src_bytes 0: nothing is read, src may be any
// pointer). Visible to this thread only after a cp_async_wait that covers its group, and to the block
// after a __syncthreads that follows that wait.
template <int Bytes>
__device__ __forceinline__ void cp_async(void* smem_dst, const void* gmem_src, int src_bytes) {
    static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(NST_CUDA_ON_CPU)
    cuda_on_cpu::cp_async(smem_dst, gmem_src, Bytes, src_bytes);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
    if constexpr (Bytes == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem_src), "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;" ::"r"(dst), "l"(gmem_src), "n"(Bytes),
                     "r"(src_bytes));
#else
    __trap();
#endif
}

// Closes the group of this thread's cp.async copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if defined(NST_CUDA_ON_CPU)
    cuda_on_cpu::cp_async_commit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;");
#endif
}

// Waits until at most Pending of this thread's committed groups are still in flight.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
#if defined(NST_CUDA_ON_CPU)
    cuda_on_cpu::cp_async_wait(Pending);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(Pending));
#endif
}

}  // namespace nst::cuda
