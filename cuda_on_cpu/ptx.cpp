// cuda_on_cpu: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 (include/cuda_on_cpu/ptx.h). The
// cp.async model lives in scheduler.cpp, next to the per-thread state it keeps.
//
// The warp's lanes meet twice: at the first exchange every lane has posted a pointer to a copy of its
// A and B fragments (TF32-truncated) in a per-worker table, so that each lane can then read every
// other lane's fragments; at the second, every lane has finished reading, so none returns (and reuses
// the stack its copy lives on, or posts the next mma's operands) while another still reads it. Under
// ThreadSanitizer the exchanges order the posting before the reads and the reads before the reuse.
#include "cuda_on_cpu/ptx.h"

#include "cuda_on_cpu/internal.h"

namespace cuda_on_cpu {

namespace {

struct Operands {
    float a[4], b[2];
};

// One slot per CUDA thread of the block running on this host worker (at most 32 warps of 32 lanes).
thread_local const Operands* t_posted[32][32];

float tf32_operand(uint32_t bits) {  // what the tensor core reads of a .tf32 register
    bits &= 0xffffe000u;
    float x;
    std::memcpy(&x, &bits, 4);
    return x;
}

int linear_thread() {
    const ThreadIndex& i = current();
    return int(i.thread_idx.x + i.block_dim.x * (i.thread_idx.y + i.block_dim.y * i.thread_idx.z));
}

constexpr const char* kMmaOp = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";

}  // namespace

void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4],
                      std::source_location where) {
    const int linear = linear_thread(), lane = linear & 31, warp = linear >> 5;
    Operands mine;
    for (int i = 0; i < 4; ++i) mine.a[i] = tf32_operand(a[i]);
    for (int i = 0; i < 2; ++i) mine.b[i] = tf32_operand(b[i]);
    const Operands* const* posted = t_posted[warp];
    t_posted[warp][lane] = &mine;
    warp_exchange(0xffffffffu, 0, lane, nullptr, kMmaOp, where);  // every lane has posted

    // A[r][k] is held by lane (r % 8) * 4 + k % 4 as a[r / 8 + 2 * (k / 4)]; B[k][n] by lane n * 4 + k % 4
    // as b[k / 4]; this lane's outputs are rows g and g + 8, columns 2t and 2t + 1.
    const int g = lane >> 2, t = lane & 3;
    float out[4];
    for (int i = 0; i < 4; ++i) {
        const int half = i >> 1, n = 2 * t + (i & 1);
        float acc = c[i];
        for (int k = 0; k < 8; ++k)
            acc += posted[g * 4 + (k & 3)]->a[half + 2 * (k >> 2)] * posted[n * 4 + (k & 3)]->b[k >> 2];
        out[i] = acc;
    }
    warp_exchange(0xffffffffu, 0, lane, nullptr, kMmaOp, where);  // every lane has read
    for (int i = 0; i < 4; ++i) d[i] = out[i];
}

}  // namespace cuda_on_cpu
