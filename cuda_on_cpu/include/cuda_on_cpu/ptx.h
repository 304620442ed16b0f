// cuda_on_cpu: functional models of the PTX instructions that kernels/cuda/tensor_core.cuh issues as
// inline assembly on a GPU (sm_80+): cvt.rna.tf32.f32, mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// and cp.async (+ commit_group, wait_group). Implemented in cuda_on_cpu/ptx.cpp and scheduler.cpp.
//
// mma.sync is warp-collective: all 32 lanes must reach the same call (full mask; a lane that exits,
// waits elsewhere or at __syncthreads is a fault, as for the other warp intrinsics). Each lane holds
// its fragments as the PTX ISA lays them out (g = lane / 4, t = lane % 4):
//   A (16x8, row-major):  a0 = A[g][t]    a1 = A[g+8][t]    a2 = A[g][t+4]    a3 = A[g+8][t+4]
//   B (8x8, B[k][n]):     b0 = B[t][g]    b1 = B[t+4][g]
//   C, D (16x8):          c0 = C[g][2t]   c1 = C[g][2t+1]   c2 = C[g+8][2t]   c3 = C[g+8][2t+1]
// A and B are read as TF32 (the low 13 mantissa bits dropped, nothing rounded: round with cvt_rna_tf32
// first, as on a GPU); products are summed in fp32 in k order onto c. d may alias c. Not modelled: the
// tensor core's internal accumulation order and precision.
//
// cp.async is modelled as deferred: a copy is queued per CUDA thread, grouped by cp_async_commit, and
// performed only when a cp_async_wait retires its group (oldest group first; copies not yet committed
// are never retired, as wait_group counts committed groups only). A kernel that reads the destination
// before the wait that covers it therefore reads the old contents, as it may on a GPU. Checked (faults):
// cp_size not 4, 8 or 16; either pointer not aligned to cp_size; src_size outside [0, cp_size]; a source
// (src_size > 0) not inside one cudaMalloc allocation; a destination inside one (it must be shared
// memory); a thread that ends with copies still pending (issued or committed but never waited for).
#pragma once
#include <cstdint>
#include <cstring>
#include <source_location>

namespace cuda_on_cpu {

// cvt.rna.tf32.f32: the fp32 bit pattern rounded to nearest, ties away from zero, to 10 mantissa bits
// (the low 13 bits zero). NaN and infinity pass unchanged; a finite value may round up to infinity.
inline uint32_t cvt_rna_tf32(float x) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
    return b;
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32: d = A·B + c on one warp (see the layout above).
void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4],
                      std::source_location where = std::source_location::current());

// cp.async.{ca,cg}.shared.global [smem_dst], [gmem_src], cp_size, src_size: queues the copy of cp_size
// bytes, the first src_size read from gmem_src and the rest zero (src_size 0: nothing is read).
void cp_async(void* smem_dst, const void* gmem_src, int cp_size, int src_size,
              std::source_location where = std::source_location::current());
// cp.async.commit_group: the copies queued since the last commit become one group (possibly empty).
void cp_async_commit();
// cp.async.wait_group n: performs the oldest committed groups until at most n remain pending.
void cp_async_wait(int n);

}  // namespace cuda_on_cpu
