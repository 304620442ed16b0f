// cuda_on_cpu: a functional model of the WMMA API (nvcuda::wmma) for the shapes this project uses:
// m16n16k8 with TF32 inputs and fp32 accumulators (what sm_80+ tensor cores do).
//
// Every *_sync call is warp-collective: all 32 lanes must reach it (checked, like __syncwarp).
// Fragments: each lane holds a whole copy of an A (16x8) or B (8x16) tile; an accumulator's 256
// elements are spread over the lanes, 8 each (element e = row * 16 + column belongs to lane e % 32),
// as on the hardware, where the lane-to-element mapping is also unspecified. mma_sync rounds nothing:
// inputs are used with their low 13 mantissa bits dropped (what the tensor core reads of a TF32
// operand; the kernels round with __float_to_tf32 first, as they must on a GPU), products are summed
// in fp32 in k order. Not modelled: the hardware's internal accumulation order and precision.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <source_location>
#include <string>

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
inline float tf32_operand(float x) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    b &= 0xffffe000u;
    std::memcpy(&x, &b, 4);
    return x;
}
inline void converge(const char* op, std::source_location where) {
    cuda_on_cpu::warp_exchange(0xffffffffu, 0, cuda_on_cpu::lane_id(), nullptr, op, where);
}
// CUDA's requirements of a load or store: a 256-bit aligned pointer, ldm a multiple of 4 floats (16 bytes).
inline void check_tile(const float* p, unsigned ldm, const char* op) {
    if (reinterpret_cast<uintptr_t>(p) % 32 != 0) cuda_on_cpu::device_fault((std::string(op) + ": pointer not 32-byte aligned").c_str());
    if (ldm % 4 != 0) cuda_on_cpu::device_fault((std::string(op) + ": ldm not a multiple of 4 floats").c_str());
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment;

template <class Layout> struct fragment<matrix_a, 16, 16, 8, precision::tf32, Layout> {
    static constexpr int num_elements = 16 * 8;
    float x[16 * 8];  // (row, k) row-major: the whole tile
};
template <class Layout> struct fragment<matrix_b, 16, 16, 8, precision::tf32, Layout> {
    static constexpr int num_elements = 8 * 16;
    float x[8 * 16];  // (k, column) row-major: the whole tile
};
template <> struct fragment<accumulator, 16, 16, 8, float, void> {
    static constexpr int num_elements = 8;
    float x[8];  // elements lane, lane + 32, ... of the row-major 16x16 tile
};

inline float __float_to_tf32(float x) {
    uint32_t b;
    std::memcpy(&b, &x, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) {  // cvt.rna.tf32.f32: nearest, ties away from zero
        b += 0x1000u;
        b &= 0xffffe000u;
    }
    std::memcpy(&x, &b, 4);
    return x;
}

template <class Layout>
void load_matrix_sync(fragment<matrix_a, 16, 16, 8, precision::tf32, Layout>& a, const float* p, unsigned ldm,
                      std::source_location where = std::source_location::current()) {
    detail::converge("wmma::load_matrix_sync", where);
    detail::check_tile(p, ldm, "wmma::load_matrix_sync");
    for (int r = 0; r < 16; ++r)
        for (int k = 0; k < 8; ++k)
            a.x[r * 8 + k] = detail::tf32_operand(std::is_same_v<Layout, row_major> ? p[r * ldm + k] : p[k * ldm + r]);
}
template <class Layout>
void load_matrix_sync(fragment<matrix_b, 16, 16, 8, precision::tf32, Layout>& b, const float* p, unsigned ldm,
                      std::source_location where = std::source_location::current()) {
    detail::converge("wmma::load_matrix_sync", where);
    detail::check_tile(p, ldm, "wmma::load_matrix_sync");
    for (int k = 0; k < 8; ++k)
        for (int c = 0; c < 16; ++c)
            b.x[k * 16 + c] = detail::tf32_operand(std::is_same_v<Layout, row_major> ? p[k * ldm + c] : p[c * ldm + k]);
}

inline void fill_fragment(fragment<accumulator, 16, 16, 8, float>& c, float v,
                          std::source_location where = std::source_location::current()) {
    detail::converge("wmma::fill_fragment", where);
    for (float& e : c.x) e = v;
}

template <class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 8, float>& d, const fragment<matrix_a, 16, 16, 8, precision::tf32, LA>& a,
              const fragment<matrix_b, 16, 16, 8, precision::tf32, LB>& b,
              const fragment<accumulator, 16, 16, 8, float>& c,
              std::source_location where = std::source_location::current()) {
    detail::converge("wmma::mma_sync", where);
    const int lane = cuda_on_cpu::lane_id();
    float out[8];
    for (int i = 0; i < 8; ++i) {
        const int e = lane + 32 * i, r = e / 16, col = e % 16;
        float acc = c.x[i];
        for (int k = 0; k < 8; ++k) acc += a.x[r * 8 + k] * b.x[k * 16 + col];
        out[i] = acc;
    }
    std::memcpy(d.x, out, sizeof out);
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 8, float>& c, unsigned ldm, layout_t layout,
                              std::source_location where = std::source_location::current()) {
    detail::converge("wmma::store_matrix_sync", where);
    detail::check_tile(p, ldm, "wmma::store_matrix_sync");
    const int lane = cuda_on_cpu::lane_id();
    for (int i = 0; i < 8; ++i) {
        const int e = lane + 32 * i, r = e / 16, col = e % 16;
        (layout == mem_row_major ? p[r * ldm + col] : p[col * ldm + r]) = c.x[i];
    }
}

}  // namespace nvcuda::wmma
