// The CUDA-on-CPU layer itself (cuda_on_cpu/, built with -DNST_CUDA_EMULATION=ON only): the faults it
// must report as CUDA would (or louder, where CUDA leaves them undefined), warp intrinsics and the WMMA
// model against hand-computed results, memory and graph semantics, and the mutation test: a copy of a
// real kernel without its barriers must be caught (wrong values here; a reported race under TSan, see
// tests/CMakeLists.txt). Also the PTX models (cuda_on_cpu/ptx.h): mma.sync m16n8k8 TF32 against a
// plain loop and its fragment layout, and cp.async's deferral, zero-fill, groups and faults.
// Compiled like a .cu file (cuda_runtime.h included first).
#include <cuda_on_cpu/ptx.h>
#include <mma.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "tests/catch.h"

namespace {

// ---- helpers ----
struct Buffer {  // raw device memory, freed by cudaDeviceReset at the end of every test
    float* p = nullptr;
    explicit Buffer(size_t n) { REQUIRE(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess); }
};
std::vector<float> download(const float* d, size_t n) {
    std::vector<float> h(n);
    REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    return h;
}
void upload(float* d, const std::vector<float>& h) {
    REQUIRE(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
}
std::string error_text(cudaError_t e) { return cudaGetErrorString(e); }
struct ResetAfter {  // a faulted device stays faulted (sticky) until reset, as in CUDA
    ~ResetAfter() { cudaDeviceReset(); }
};
// Runs `launch` (one kernel launch), expects it to fail with `expected`; returns the error's text.
template <class Launch> std::string fault_of(Launch launch, cudaError_t expected) {
    launch();
    const cudaError_t e = cudaGetLastError();
    CHECK(e == expected);
    INFO(error_text(e));
    return error_text(e);
}

// ---- kernels ----
__global__ void fill_index_kernel(float* out) {
    const unsigned i = (blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x * blockDim.y +
                       threadIdx.y * blockDim.x + threadIdx.x;
    out[i] = float(i);
}
__global__ void early_exit_kernel(float* out) {
    if (threadIdx.x < 16) return;
    __syncthreads();
    out[threadIdx.x] = 1.f;
}
__global__ void two_barriers_kernel(float* out) {
    if (threadIdx.x % 2)
        __syncthreads();
    else
        __syncthreads();
    out[threadIdx.x] = 1.f;
}
__global__ void half_mask_kernel(float* out) { out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, 1.f, 1); }
__global__ void shuffle_vs_barrier_kernel(float* out) {
    if (threadIdx.x < 16)
        out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);
    else
        __syncthreads();
}
__global__ void mixed_intrinsics_kernel(float* out) {
    if (threadIdx.x < 16)
        out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.f, 0);
    else
        out[threadIdx.x] = float(__ballot_sync(0xffffffffu, 1));
}
__global__ void trap_kernel(float*) {
    if (blockIdx.x == 1 && threadIdx.x == 3) __trap();
}
// out[0..31]: a warp sum by __shfl_down_sync, a rotation by __shfl_sync, a butterfly by __shfl_xor_sync,
// a ballot; out[32..]: a half-warp (mask 0xffff) sum in lanes 0..15.
__global__ void warp_ops_kernel(float* out) {
    const int lane = threadIdx.x;
    float v = float(lane + 1);
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const float rotated = __shfl_sync(0xffffffffu, float(lane), (lane + 1) % 32);
    float b = float(lane);
    for (int m = 1; m < 32; m <<= 1) b = fmaxf(b, __shfl_xor_sync(0xffffffffu, b, m));
    const unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
    out[lane * 4 + 0] = lane == 0 ? v : 0.f;
    out[lane * 4 + 1] = rotated;
    out[lane * 4 + 2] = b;
    out[lane * 4 + 3] = float(__popc(ballot));
    if (lane < 16) {
        float h = 1.f;
        for (int o = 8; o > 0; o >>= 1) h += __shfl_down_sync(0x0000ffffu, h, o, 16);
        if (lane == 0) out[128] = h;
    }
}

// Every thread of every block adds to one counter and maxes into another: atomics across blocks that
// run on different host workers at once.
__global__ void atomics_kernel(int* counter, int* top) {
    const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(counter, 1);
    atomicMax(top, i);
}

// The mutation: gram_ladder.cu's "tiled" kernel (variant 2), copied, with its two barriers switchable.
constexpr int kT = 16;
template <bool kBarriers>
__global__ void gram_tiled_copy(const float* __restrict__ f, float* __restrict__ g, int C, long long HW, float scale) {
    __shared__ float Fi[kT][kT + 1], Fj[kT][kT + 1];
    const int n = blockIdx.z, i0 = blockIdx.y * kT, j0 = blockIdx.x * kT, tx = threadIdx.x, ty = threadIdx.y;
    const float* F = f + (long long)n * C * HW;
    float acc = 0.f;
    for (long long p0 = 0; p0 < HW; p0 += kT) {
        const long long p = p0 + tx;
        Fi[ty][tx] = (i0 + ty < C && p < HW) ? F[(i0 + ty) * HW + p] : 0.f;
        Fj[ty][tx] = (j0 + ty < C && p < HW) ? F[(j0 + ty) * HW + p] : 0.f;
        if constexpr (kBarriers) __syncthreads();
#pragma unroll
        for (int k = 0; k < kT; ++k) acc += Fi[ty][k] * Fj[tx][k];
        if constexpr (kBarriers) __syncthreads();
    }
    if (i0 + ty < C && j0 + tx < C) g[((long long)n * C + i0 + ty) * C + j0 + tx] = acc * scale;
}

// Runs the copy on a 40 x 333 feature map (3x3 tiles of G, 21 column steps); returns ‖G − ref‖ / ‖ref‖.
template <bool kBarriers> double gram_copy_error() {
    const int C = 40;
    const long long HW = 333;
    std::vector<float> f(size_t(C * HW));
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (float& v : f) v = d(gen);
    Buffer df(f.size()), dg(size_t(C) * C);
    upload(df.p, f);
    NST_LAUNCH(gram_tiled_copy<kBarriers>, dim3(3, 3, 1), dim3(kT, kT), 0, nullptr)(df.p, dg.p, C, HW, 1.f);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> g = download(dg.p, size_t(C) * C);
    double num = 0, den = 0;
    for (int i = 0; i < C; ++i)
        for (int j = 0; j < C; ++j) {
            double ref = 0;
            for (long long p = 0; p < HW; ++p) ref += double(f[i * HW + p]) * f[j * HW + p];
            num += (g[i * C + j] - ref) * (g[i * C + j] - ref);
            den += ref * ref;
        }
    return std::sqrt(num / den);
}

// One warp: D (16x16) = A (16x8) · B (8x16) + 1 on the WMMA model.
__global__ void wmma_kernel(const float* a, const float* b, float* d) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::fill_fragment(acc, 1.f);
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 8);  // col-major: element (k, c) at b[c * 8 + k]
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}


// ---- the PTX models (cuda_on_cpu/ptx.h) ----
// Each warp w of the block: D_w (16x8) = A_w (16x8, row-major) · B_w (8x8, B[k][n] at b[k * 8 + n]) + C_w,
// the fragments loaded as the PTX ISA lays them out and A, B passed as raw fp32 bits (the model must
// drop the low 13 mantissa bits itself). d is passed as c too, as tensor_core.cuh does. With reps > 1,
// mma r (from 0) multiplies (r + 1)·A by B onto the previous result: back-to-back calls, so a lane that
// moved on while another still read its operands would be seen (wrong values; a race under TSan).
__global__ void mma_m16n8k8_kernel(const float* a, const float* b, const float* c, float* d, int reps) {
    const int lane = int(threadIdx.x % 32), w = int(threadIdx.x / 32), g = lane / 4, t = lane % 4;
    a += w * 128, b += w * 64, c += w * 128, d += w * 128;
    const auto bits = [](float x) { return cuda_on_cpu::to_bits(x) & 0xffffffffu; };
    const uint32_t fb[2] = {uint32_t(bits(b[t * 8 + g])), uint32_t(bits(b[(t + 4) * 8 + g]))};
    float acc[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]};
    for (int r = 0; r < reps; ++r) {
        const float s = float(r + 1);
        const uint32_t fa[4] = {uint32_t(bits(s * a[g * 8 + t])), uint32_t(bits(s * a[(g + 8) * 8 + t])),
                                uint32_t(bits(s * a[g * 8 + t + 4])), uint32_t(bits(s * a[(g + 8) * 8 + t + 4]))};
        cuda_on_cpu::mma_m16n8k8_tf32(acc, fa, fb, acc);
    }
    d[g * 8 + 2 * t] = acc[0];
    d[g * 8 + 2 * t + 1] = acc[1];
    d[(g + 8) * 8 + 2 * t] = acc[2];
    d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}
__global__ void mma_lane_skips_kernel(float* out) {
    if (threadIdx.x == 5) return;
    const uint32_t a[4] = {}, b[2] = {};
    float acc[4] = {};
    cuda_on_cpu::mma_m16n8k8_tf32(acc, a, b, acc);
    out[threadIdx.x] = acc[0];
}

// cp.async: 16 threads, each its own 16 bytes of a 64-float tile (set to -1 first). out[0..63]: the tile
// read right after the commit, before any wait (old contents: the copies are deferred); out[64..127]:
// after wait_group 0 and __syncthreads, each thread reading its neighbour's part.
__global__ void cp_async_copy_kernel(const float* src, float* out) {
    __shared__ __align__(16) float tile[64];
    const int i = int(threadIdx.x);
    for (int e = 0; e < 4; ++e) tile[i * 4 + e] = -1.f;
    cuda_on_cpu::cp_async(&tile[i * 4], src + i * 4, 16, 16);
    cuda_on_cpu::cp_async_commit();
    for (int e = 0; e < 4; ++e) out[i * 4 + e] = tile[i * 4 + e];
    cuda_on_cpu::cp_async_wait(0);
    __syncthreads();
    const int j = (i + 1) % 16;
    for (int e = 0; e < 4; ++e) out[64 + j * 4 + e] = tile[j * 4 + e];
}
// Zero-fill: thread i < 5 copies 16 bytes of which 4 * i are read; thread 5 reads nothing (a null
// source); thread 6 an 8-byte copy reading 4; thread 7 a 4-byte copy reading 4. out: 8 x 4 floats.
__global__ void cp_async_zero_fill_kernel(const float* src, float* out) {
    __shared__ __align__(16) float tile[32];
    const int i = int(threadIdx.x);
    for (int e = 0; e < 4; ++e) tile[i * 4 + e] = -1.f;
    if (i < 5) cuda_on_cpu::cp_async(&tile[i * 4], src + i * 4, 16, 4 * i);
    if (i == 5) cuda_on_cpu::cp_async(&tile[i * 4], nullptr, 16, 0);
    if (i == 6) cuda_on_cpu::cp_async(&tile[i * 4], src + i * 4, 8, 4);
    if (i == 7) cuda_on_cpu::cp_async(&tile[i * 4], src + i * 4, 4, 4);
    cuda_on_cpu::cp_async_commit();
    cuda_on_cpu::cp_async_wait(0);
    for (int e = 0; e < 4; ++e) out[i * 4 + e] = tile[i * 4 + e];
}
// Groups, one thread: parts 0 and 1 of the tile in two committed groups, wait_group 1 (out[0..7]),
// wait_group 0 (out[8..15]); then part 2 issued but not committed: wait_group 0 (out[16..19]), commit
// and wait_group 0 again (out[20..23]).
__global__ void cp_async_groups_kernel(const float* src, float* out) {
    __shared__ __align__(16) float tile[12];
    for (float& v : tile) v = -1.f;
    cuda_on_cpu::cp_async(&tile[0], src, 16, 16);
    cuda_on_cpu::cp_async_commit();
    cuda_on_cpu::cp_async(&tile[4], src + 4, 16, 16);
    cuda_on_cpu::cp_async_commit();
    cuda_on_cpu::cp_async_wait(1);
    for (int e = 0; e < 8; ++e) out[e] = tile[e];
    cuda_on_cpu::cp_async_wait(0);
    for (int e = 0; e < 8; ++e) out[8 + e] = tile[e];
    cuda_on_cpu::cp_async(&tile[8], src + 8, 16, 16);
    cuda_on_cpu::cp_async_wait(0);
    for (int e = 0; e < 4; ++e) out[16 + e] = tile[8 + e];
    cuda_on_cpu::cp_async_commit();
    cuda_on_cpu::cp_async_wait(0);
    for (int e = 0; e < 4; ++e) out[20 + e] = tile[8 + e];
}
// Faulty uses, by `mode`: 0 a misaligned 16-byte destination, 1 a misaligned source, 2 a host source,
// 3 a thread ending with a committed group not waited for, 4 one ending with a copy never committed.
__global__ void cp_async_fault_kernel(const float* src, int mode) {
    __shared__ __align__(16) float tile[8];
    static float host[4] __attribute__((aligned(16)));
    if (mode == 0) cuda_on_cpu::cp_async(&tile[1], src, 16, 16);
    if (mode == 1) cuda_on_cpu::cp_async(&tile[0], src + 1, 16, 16);
    if (mode == 2) cuda_on_cpu::cp_async(&tile[0], host, 16, 16);
    if (mode >= 3) cuda_on_cpu::cp_async(&tile[0], src, 16, 16);
    if (mode == 3) cuda_on_cpu::cp_async_commit();
}

// Only for the opt-in test: the shared-memory limit set for a kernel stays for the process.
__global__ void opt_in_kernel(float* out) { out[threadIdx.x] = 1.f; }

}  // namespace

TEST_CASE("cuda_on_cpu: a grid runs every thread once with the right indices", "[cuda_on_cpu]") {
    ResetAfter reset;
    const size_t n = 5 * 3 * 96;
    Buffer out(n);
    NST_LAUNCH(fill_index_kernel, dim3(5, 3), dim3(32, 3), 0, nullptr)(out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> h = download(out.p, n);
    for (size_t i = 0; i < n; ++i) REQUIRE(h[i] == float(i));
}

TEST_CASE("cuda_on_cpu: launch limits are refused as CUDA refuses them, and the error is not sticky", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(2048);
    const auto invalid = cudaErrorInvalidConfiguration;
    CHECK(fault_of([&] { NST_LAUNCH(fill_index_kernel, 1, 1025, 0, nullptr)(out.p); }, invalid)
              .find("at most 1024 per block") != std::string::npos);
    fault_of([&] { NST_LAUNCH(fill_index_kernel, dim3(1, 65536), 32, 0, nullptr)(out.p); }, invalid);
    fault_of([&] { NST_LAUNCH(fill_index_kernel, 1, dim3(1, 1, 65), 0, nullptr)(out.p); }, invalid);
    CHECK(fault_of([&] { NST_LAUNCH(fill_index_kernel, 1, 32, 64 << 10, nullptr)(out.p); }, invalid)
              .find("dynamic shared memory") != std::string::npos);
    CHECK(cudaGetLastError() == cudaSuccess);  // read and cleared
    NST_LAUNCH(fill_index_kernel, 2, 1024, 0, nullptr)(out.p);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(download(out.p, 2048)[2047] == 2047.f);
}

TEST_CASE("cuda_on_cpu: more than 48 KB of dynamic shared memory needs cudaFuncSetAttribute, up to 227 KB",
          "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(32);
    const auto invalid = cudaErrorInvalidConfiguration;
    CHECK(fault_of([&] { NST_LAUNCH(opt_in_kernel, 1, 32, 64 << 10, nullptr)(out.p); }, invalid)
              .find("cudaFuncSetAttribute") != std::string::npos);
    REQUIRE(cudaFuncSetAttribute(opt_in_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 80 << 10) == cudaSuccess);
    NST_LAUNCH(opt_in_kernel, 1, 32, 64 << 10, nullptr)(out.p);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(download(out.p, 32)[31] == 1.f);
    fault_of([&] { NST_LAUNCH(opt_in_kernel, 1, 32, 81 << 10, nullptr)(out.p); }, invalid);  // over its new limit
    CHECK(cudaFuncSetAttribute(opt_in_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300000) == cudaErrorInvalidValue);
    cudaGetLastError();
}

TEST_CASE("cuda_on_cpu: a __syncthreads some threads exit before is a sticky fault naming the line", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(64);
    const std::string text =
        fault_of([&] { NST_LAUNCH(early_exit_kernel, 2, 64, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("early_exit_kernel") != std::string::npos);
    CHECK(text.find("reached by 48 of 64 threads") != std::string::npos);
    CHECK(text.find("test_cuda_on_cpu.cpp:") != std::string::npos);
    // Sticky: the next call fails too, until the device is reset.
    float* p = nullptr;
    CHECK(cudaMalloc(&p, 4) == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    cudaDeviceReset();
    CHECK(cudaMalloc(&p, 4) == cudaSuccess);
}

TEST_CASE("cuda_on_cpu: threads waiting at two different __syncthreads are a fault", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(64);
    const std::string text =
        fault_of([&] { NST_LAUNCH(two_barriers_kernel, 1, 64, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("different barriers") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: a warp shuffle whose mask leaves out a calling lane is a fault", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(32);
    const std::string text =
        fault_of([&] { NST_LAUNCH(half_mask_kernel, 1, 32, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("leaves out the calling lane") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: lanes at a shuffle while the rest of the warp waits at __syncthreads deadlock", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(32);
    const std::string text =
        fault_of([&] { NST_LAUNCH(shuffle_vs_barrier_kernel, 1, 32, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("deadlock") != std::string::npos);
    CHECK(text.find("__shfl_sync") != std::string::npos);
    CHECK(text.find("16 threads, e.g. thread (16,0,0) waits at __syncthreads") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: lanes meeting at two different warp intrinsics with one mask are a fault", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(32);
    const std::string text =
        fault_of([&] { NST_LAUNCH(mixed_intrinsics_kernel, 1, 32, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("__shfl_sync") != std::string::npos);
    CHECK(text.find("__ballot_sync") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: __trap is an illegal-instruction fault naming block and thread", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(1);
    const std::string text =
        fault_of([&] { NST_LAUNCH(trap_kernel, 4, 8, 0, nullptr)(out.p); }, cudaErrorIllegalInstruction);
    CHECK(text.find("block (1,0,0), thread (3,0,0): __trap() called") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: warp shuffles, ballots and partial-warp masks compute what CUDA computes", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(129);
    NST_LAUNCH(warp_ops_kernel, 1, 32, 0, nullptr)(out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> h = download(out.p, 129);
    CHECK(h[0] == 528.f);  // 1 + 2 + ... + 32
    for (int lane = 0; lane < 32; ++lane) {
        CHECK(h[lane * 4 + 1] == float((lane + 1) % 32));
        CHECK(h[lane * 4 + 2] == 31.f);
        CHECK(h[lane * 4 + 3] == 11.f);  // lanes 0, 3, ..., 30
    }
    CHECK(h[128] == 16.f);
}

TEST_CASE("cuda_on_cpu: atomics from every block are neither lost nor torn", "[cuda_on_cpu]") {
    ResetAfter reset;
    int* d = nullptr;
    REQUIRE(cudaMalloc(&d, 2 * sizeof(int)) == cudaSuccess);
    REQUIRE(cudaMemset(d, 0, 2 * sizeof(int)) == cudaSuccess);
    NST_LAUNCH(atomics_kernel, 64, 256, 0, nullptr)(d, d + 1);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    int h[2];
    REQUIRE(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(h[0] == 64 * 256);
    CHECK(h[1] == 64 * 256 - 1);
}

TEST_CASE("cuda_on_cpu: the WMMA model computes a TF32 16x16x8 product", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> a(128), b(128);
    std::mt19937 gen(3);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (float& v : a) v = nvcuda::wmma::__float_to_tf32(d(gen));
    for (float& v : b) v = nvcuda::wmma::__float_to_tf32(d(gen));
    Buffer da(128), db(128), dd(256);
    upload(da.p, a);
    upload(db.p, b);
    NST_LAUNCH(wmma_kernel, 1, 32, 0, nullptr)(da.p, db.p, dd.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> out = download(dd.p, 256);
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) {
            double ref = 1;
            for (int k = 0; k < 8; ++k) ref += double(a[r * 8 + k]) * b[c * 8 + k];
            CHECK(std::abs(out[r * 16 + c] - ref) < 1e-5);
        }
    // __float_to_tf32 keeps 10 mantissa bits, rounding to nearest with ties away from zero.
    CHECK(nvcuda::wmma::__float_to_tf32(1.f + 0x1p-11f) == 1.f + 0x1p-10f);
    CHECK(nvcuda::wmma::__float_to_tf32(1.f + 0x1p-12f) == 1.f);
}

TEST_CASE("cuda_on_cpu: the mutation test: the tiled Gram kernel without its barriers is caught", "[cuda_on_cpu]") {
    ResetAfter reset;
    CHECK(gram_copy_error<true>() < 1e-5);
    // Without __syncthreads each thread reads tiles its neighbours have not loaded yet: wrong values here
    // (threads run until a barrier), and a data race on Fi/Fj under ThreadSanitizer ("[.tsan_mutant]").
#ifndef __SANITIZE_THREAD__  // under TSan the race report is the catch: the "[.tsan_mutant]" case below
    CHECK(gram_copy_error<false>() > 1e-2);
#endif
}

TEST_CASE("cuda_on_cpu: the mutant kernel alone, for ThreadSanitizer to report", "[.tsan_mutant]") {
    ResetAfter reset;
    gram_copy_error<false>();
}

TEST_CASE("cuda_on_cpu: copies and frees check that device pointers are device memory", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> host(16), other(16);
    Buffer dev(16);
    CHECK(cudaMemcpy(other.data(), host.data(), 64, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(dev.p + 8, host.data(), 64, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past its end
    CHECK(cudaMemcpy(dev.p, host.data(), 64, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(dev.p + 8, host.data(), 64, cudaMemcpyDefault) == cudaErrorInvalidValue);  // inferred side
    CHECK(cudaMemcpy(dev.p + 1, dev.p, 32, cudaMemcpyDeviceToDevice) == cudaErrorInvalidValue);  // overlap
    CHECK(cudaFree(host.data()) == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    // Fresh device memory is not zero (as on a GPU): NaN, so a kernel reading it unwritten shows it.
    Buffer fresh(4);
    CHECK(std::isnan(download(fresh.p, 4)[0]));
}

TEST_CASE("cuda_on_cpu: a captured stream records work that runs only when the graph is launched", "[cuda_on_cpu]") {
    ResetAfter reset;
    cudaStream_t s;
    REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    Buffer out(64);
    REQUIRE(cudaMemsetAsync(out.p, 0, 64 * sizeof(float), s) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    NST_LAUNCH(fill_index_kernel, 1, 64, 0, s)(out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    CHECK(download(out.p, 64)[63] == 0.f);  // recorded, not run
    cudaGraph_t g;
    REQUIRE(cudaStreamEndCapture(s, &g) == cudaSuccess);
    cudaGraphExec_t exec;
    REQUIRE(cudaGraphInstantiate(&exec, g, 0) == cudaSuccess);
    REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
    CHECK(download(out.p, 64)[63] == 63.f);
    // Waiting for a stream that is being captured ends the capture, as in CUDA.
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);
    cudaGraph_t bad;
    CHECK(cudaStreamEndCapture(s, &bad) == cudaErrorStreamCaptureInvalidated);
    CHECK(bad == nullptr);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
}

// ---- the PTX models (cuda_on_cpu/ptx.h) ----
namespace {
float tf32_truncated(float x) { return cuda_on_cpu::from_bits<float>(cuda_on_cpu::to_bits(x) & 0xffffe000u); }
// Runs mma_m16n8k8_kernel on two warps (two problems); returns both D's.
std::vector<float> run_mma(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c,
                           int reps = 1) {
    Buffer da(256), db(128), dc(256), dd(256);
    upload(da.p, a);
    upload(db.p, b);
    upload(dc.p, c);
    NST_LAUNCH(mma_m16n8k8_kernel, 1, 64, 0, nullptr)(da.p, db.p, dc.p, dd.p, reps);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    return download(dd.p, 256);
}
}  // namespace

TEST_CASE("cuda_on_cpu: the mma.sync m16n8k8 TF32 model computes A·B + C with truncated operands", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> a(256), b(128), c(256);
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (float& v : a) v = d(gen);  // not rounded to TF32: the model must truncate
    for (float& v : b) v = d(gen);
    for (float& v : c) v = d(gen);
    const int reps = 3;
    const std::vector<float> out = run_mma(a, b, c, reps);
    for (int w = 0; w < 2; ++w)
        for (int r = 0; r < 16; ++r)
            for (int n = 0; n < 8; ++n) {
                // TF32 products are exact in fp32, so summing in k order gives the model's result exactly.
                float ref = c[w * 128 + r * 8 + n];
                for (int rep = 0; rep < reps; ++rep)
                    for (int k = 0; k < 8; ++k)
                        ref += tf32_truncated(float(rep + 1) * a[w * 128 + r * 8 + k]) *
                               tf32_truncated(b[w * 64 + k * 8 + n]);
                CHECK(out[w * 128 + r * 8 + n] == ref);
            }
    // Truncation, not rounding: 1 + 2^-11 (a bit below TF32's precision) reads as 1.
    std::vector<float> one_a(256, 0.f), one_b(128, 0.f), zero_c(256, 0.f);
    one_a[0] = 1.f + 0x1p-11f;
    one_b[0] = 1.f;
    CHECK(run_mma(one_a, one_b, zero_c)[0] == 1.f);
}

TEST_CASE("cuda_on_cpu: the mma.sync m16n8k8 model puts each lane's fragments where the PTX layout says", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> a(256), b(128), c(256, 0.f), ident_b(128, 0.f), ident_a(256, 0.f);
    for (int i = 0; i < 256; ++i) a[i] = float(i % 128 + 1);  // distinct small integers: exact in TF32
    for (int i = 0; i < 128; ++i) b[i] = float(i % 64 + 1);
    for (int w = 0; w < 2; ++w) {
        for (int k = 0; k < 8; ++k) ident_b[w * 64 + k * 8 + k] = 1.f;
        for (int r = 0; r < 16; ++r) ident_a[w * 128 + r * 8 + r % 8] = 1.f;
    }
    for (int i = 0; i < 256; ++i) c[i] = float(1000 + i);
    // A · I + 0 = A: the A and D fragments; [I; I] · B + 0 = [B; B]: the B fragments; 0 · B + C = C.
    const std::vector<float> da = run_mma(a, ident_b, std::vector<float>(256, 0.f));
    const std::vector<float> db = run_mma(ident_a, b, std::vector<float>(256, 0.f));
    const std::vector<float> dc = run_mma(std::vector<float>(256, 0.f), b, c);
    for (int w = 0; w < 2; ++w)
        for (int r = 0; r < 16; ++r)
            for (int n = 0; n < 8; ++n) {
                const int i = w * 128 + r * 8 + n;
                CHECK(da[i] == a[i]);
                CHECK(db[i] == b[w * 64 + (r % 8) * 8 + n]);
                CHECK(dc[i] == c[i]);
            }
}

TEST_CASE("cuda_on_cpu: an mma.sync that a lane of the warp skips is a fault", "[cuda_on_cpu]") {
    ResetAfter reset;
    Buffer out(32);
    const std::string text =
        fault_of([&] { NST_LAUNCH(mma_lane_skips_kernel, 1, 32, 0, nullptr)(out.p); }, cudaErrorLaunchFailure);
    CHECK(text.find("mma.sync.aligned.m16n8k8") != std::string::npos);
    CHECK(text.find("lane 5 (thread (5,0,0)) has exited") != std::string::npos);
}

TEST_CASE("cuda_on_cpu: cvt.rna.tf32.f32 rounds to nearest, ties away from zero, NaN and infinity unchanged", "[cuda_on_cpu]") {
    using cuda_on_cpu::cvt_rna_tf32;
    const auto f = [](uint32_t b) { return cuda_on_cpu::from_bits<float>(b); };
    const auto bits = [](float x) { return uint32_t(cuda_on_cpu::to_bits(x)); };
    CHECK(cvt_rna_tf32(1.f + 0x1p-11f) == bits(1.f + 0x1p-10f));    // a tie: away from zero
    CHECK(cvt_rna_tf32(-1.f - 0x1p-11f) == bits(-1.f - 0x1p-10f));
    CHECK(cvt_rna_tf32(1.f + 0x1p-12f) == bits(1.f));               // below the tie: down
    CHECK(cvt_rna_tf32(1.f + 0x1p-11f + 0x1p-20f) == bits(1.f + 0x1p-10f));
    CHECK((cvt_rna_tf32(0.1f) & 0x1fffu) == 0u);
    CHECK(cvt_rna_tf32(f(0x7f800000u)) == 0x7f800000u);  // +inf
    CHECK(cvt_rna_tf32(f(0x7fc01234u)) == 0x7fc01234u);  // a NaN keeps its payload
    CHECK(cvt_rna_tf32(f(0x7f7fffffu)) == 0x7f800000u);  // FLT_MAX rounds up to infinity
    CHECK(cvt_rna_tf32(f(0x00001000u)) == 0x00002000u);  // denormals round like the rest
}

TEST_CASE("cuda_on_cpu: cp.async copies are deferred until wait_group, then visible after __syncthreads", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> src(64);
    for (int i = 0; i < 64; ++i) src[i] = float(i + 1);
    Buffer dsrc(64), out(128);
    upload(dsrc.p, src);
    NST_LAUNCH(cp_async_copy_kernel, 1, 16, 0, nullptr)(dsrc.p, out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> h = download(out.p, 128);
    for (int i = 0; i < 64; ++i) {
        CHECK(h[i] == -1.f);  // read before the wait: the old contents
        CHECK(h[64 + i] == src[i]);
    }
}

TEST_CASE("cuda_on_cpu: cp.async reads src-size bytes and zero-fills the rest of the copy", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> src(32);
    for (int i = 0; i < 32; ++i) src[i] = float(i + 1);
    Buffer dsrc(32), out(32);
    upload(dsrc.p, src);
    NST_LAUNCH(cp_async_zero_fill_kernel, 1, 8, 0, nullptr)(dsrc.p, out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> h = download(out.p, 32);
    for (int t = 0; t < 5; ++t)
        for (int e = 0; e < 4; ++e) CHECK(h[t * 4 + e] == (e < t ? src[t * 4 + e] : 0.f));
    for (int e = 0; e < 4; ++e) CHECK(h[20 + e] == 0.f);                       // src-size 0, null source
    CHECK(std::vector<float>(h.begin() + 24, h.end()) ==
          std::vector<float>{src[24], 0.f, -1.f, -1.f, src[28], -1.f, -1.f, -1.f});  // 8 and 4 bytes
}

TEST_CASE("cuda_on_cpu: cp.async wait_group N retires the oldest committed groups only", "[cuda_on_cpu]") {
    ResetAfter reset;
    std::vector<float> src(12);
    for (int i = 0; i < 12; ++i) src[i] = float(i + 1);
    Buffer dsrc(12), out(24);
    upload(dsrc.p, src);
    NST_LAUNCH(cp_async_groups_kernel, 1, 1, 0, nullptr)(dsrc.p, out.p);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> h = download(out.p, 24);
    for (int e = 0; e < 4; ++e) {
        CHECK(h[e] == src[e]);          // wait_group 1: the older group is done
        CHECK(h[4 + e] == -1.f);        // ... the newer one still pending
        CHECK(h[8 + e] == src[e]);      // wait_group 0: both
        CHECK(h[12 + e] == src[4 + e]);
        CHECK(h[16 + e] == -1.f);       // an uncommitted copy is not retired by wait_group 0
        CHECK(h[20 + e] == src[8 + e]);  // ... until committed and waited for
    }
}

TEST_CASE("cuda_on_cpu: misaligned or non-device cp.async and copies never waited for are faults", "[cuda_on_cpu]") {
    const std::pair<int, const char*> cases[] = {
        {0, "the shared-memory destination is not aligned to the 16-byte copy"},
        {1, "the global source is not aligned to the 16-byte copy"},
        {2, "source bytes are not inside one cudaMalloc allocation"},
        {3, "cp.async copies still pending when the thread exited; missing cp.async.wait_group (1 copy, the "
            "first issued at test_cuda_on_cpu.cpp:"},
        {4, "never committed"},
    };
    for (const auto& [mode, expected] : cases) {
        ResetAfter reset;
        Buffer src(16);
        const std::string text = fault_of(
            [&] { NST_LAUNCH(cp_async_fault_kernel, 1, 4, 0, nullptr)(src.p, mode); }, cudaErrorLaunchFailure);
        INFO("mode " << mode);
        CHECK(text.find(expected) != std::string::npos);
        CHECK(text.find("cp_async_fault_kernel") != std::string::npos);
    }
}
