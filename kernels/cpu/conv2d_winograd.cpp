// conv2d, CPU variant "winograd": Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2015) for the
// 3x3, stride-1, pad-1 convolutions VGG is made of; other shapes fall back to im2col+GEMM.
//
// Each 4x4 output tile comes from a 6x6 input tile d (rows 4ty-1 .. 4ty+4, zero outside the image):
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// For each of the 36 positions ξ of the transformed tile the sum over channels is a matrix product
//   M_ξ[K, tiles] = U_ξ[K, C] · V_ξ[C, tiles]          (the project's GEMM, gemm.h)
// i.e. 36 multiplies per 16 outputs instead of 144: 4x fewer than direct or im2col+GEMM.
//
// backward-data is the exact adjoint of that computation (not a second Winograd conv with flipped
// weights), so it reuses the same U:
//   dM_ξ = A dY Aᵀ (per output tile),  dV_ξ[C, tiles] = U_ξᵀ · dM_ξ,  dx += B dV Bᵀ scattered back to the
//   overlapping 6x6 input tiles (the adjoint of the tile gather).
// U depends only on the weights, so frozen weights are transformed once (conv2d_prepare_winograd; the
// Conv2d module keeps the result) and the *_prepared entry points take it. The prepared form is U
// already packed for the GEMM's micro-kernel, once: the forward multiplies by the packing of U_ξ and the
// backward reads the same packing transposed (gemm.h, sgemm_packed_t), so no call re-packs U and no
// second copy is kept (36·K·C floats for a layer, the size of U itself).
//
// Threads (parallel.h): the input and output transforms are split over channels (each thread owns whole
// channel planes, so the overlapping scatter of backward-data needs no atomics), the 36 products over ξ.
// Tiles are processed in blocks to bound the V and M buffers. Eight tiles are transformed together so
// the compiler can keep the lanes in SIMD registers. V and M are laid out [channel][ξ][tile]: each
// transform then reads or writes one compact region per channel instead of 36 far-apart streams (which
// cost more than the arithmetic), and each product sees V_ξ as a matrix with row stride 36·tiles.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "base/error.h"

namespace nst::cpu {

namespace {

constexpr int kL = 8;                    // tiles transformed together (SIMD lanes)

// The transforms are compiled twice, for AVX2+FMA (8 lanes in one register) and for the baseline x86-64
// (SSE2); the loader picks the one the CPU runs (GCC function multi-versioning). Elsewhere: as is. Not
// under ThreadSanitizer, whose instrumented ifunc resolvers run before its runtime exists and crash.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define NST_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NST_SIMD_CLONES
#endif
int64_t g_buffer_floats = 6 << 20;  // V + M per tile block: 24 MiB (tests lower it)

// ---- the 1-D transforms, on 8 lanes; a 2-D transform applies one to the rows, then to the columns ----

// v = Bᵀ d (6 -> 6). Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
inline void bt6(const float (*d)[kL], float (*v)[kL]) {
    for (int l = 0; l < kL; ++l) {
        const float d0 = d[0][l], d1 = d[1][l], d2 = d[2][l], d3 = d[3][l], d4 = d[4][l], d5 = d[5][l];
        v[0][l] = 4.f * d0 - 5.f * d2 + d4;
        v[1][l] = -4.f * (d1 + d2) + d3 + d4;
        v[2][l] = 4.f * (d1 - d2) - d3 + d4;
        v[3][l] = 2.f * (d3 - d1) - d2 + d4;
        v[4][l] = 2.f * (d1 - d3) - d2 + d4;
        v[5][l] = 4.f * d1 - 5.f * d3 + d5;
    }
}

// d = B v (6 -> 6), the adjoint of bt6.
inline void b6(const float (*v)[kL], float (*d)[kL]) {
    for (int l = 0; l < kL; ++l) {
        const float v0 = v[0][l], v1 = v[1][l], v2 = v[2][l], v3 = v[3][l], v4 = v[4][l], v5 = v[5][l];
        d[0][l] = 4.f * v0;
        d[1][l] = -4.f * v1 + 4.f * v2 - 2.f * v3 + 2.f * v4 + 4.f * v5;
        d[2][l] = -5.f * v0 - 4.f * v1 - 4.f * v2 - v3 - v4;
        d[3][l] = v1 - v2 + 2.f * v3 - 2.f * v4 - 5.f * v5;
        d[4][l] = v0 + v1 + v2 + v3 + v4;
        d[5][l] = v5;
    }
}

// y = Aᵀ m (6 -> 4). Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
inline void at4(const float (*m)[kL], float (*y)[kL]) {
    for (int l = 0; l < kL; ++l) {
        const float s12 = m[1][l] + m[2][l], d12 = m[1][l] - m[2][l];
        const float s34 = m[3][l] + m[4][l], d34 = m[3][l] - m[4][l];
        y[0][l] = m[0][l] + s12 + s34;
        y[1][l] = d12 + 2.f * d34;
        y[2][l] = s12 + 4.f * s34;
        y[3][l] = d12 + 8.f * d34 + m[5][l];
    }
}

// m = A y (4 -> 6), the adjoint of at4.
inline void a6(const float (*y)[kL], float (*m)[kL]) {
    for (int l = 0; l < kL; ++l) {
        const float y0 = y[0][l], y1 = y[1][l], y2 = y[2][l], y3 = y[3][l];
        m[0][l] = y0;
        m[1][l] = y0 + y1 + y2 + y3;
        m[2][l] = y0 - y1 + y2 - y3;
        m[3][l] = y0 + 2.f * y1 + 4.f * y2 + 8.f * y3;
        m[4][l] = y0 - 2.f * y1 + 4.f * y2 - 8.f * y3;
        m[5][l] = y3;
    }
}

// ---- geometry: tiles of one image ----
// Tiles are numbered row by row, with each row of tiles padded to a multiple of kL, so that the kL
// tiles transformed together are neighbours in one row: tile t is at tile row t / twp, column t % twp,
// and covers input rows 4ty-1 .. 4ty+4, columns 4tx-1 .. 4tx+4. Padding tiles read zeros and are
// never written out.
struct Tiling {
    int H, W, th, tw, twp;  // image size, tiles per column and per row, row length padded to kL
    int64_t tiles() const { return int64_t(th) * twp; }
};

Tiling tiling(const ConvShape& s) {
    const int tw = (s.W + 3) / 4;
    return {s.H, s.W, (s.H + 3) / 4, tw, (tw + kL - 1) / kL * kL};
}

// The first half of a 2-D transform T d Tᵀ: r[:, j] = T (column j of d), for each of d's Cols columns;
// T (In -> Out rows) is one of bt6, b6, at4, a6. The second half applies T to each row of r.
template <int In, int Out, int Cols, class T>
inline void columns(const float (&d)[In][Cols][kL], float (&r)[Out][Cols][kL], T transform) {
    for (int j = 0; j < Cols; ++j) {
        float col[In][kL], out[Out][kL];
        for (int i = 0; i < In; ++i) std::memcpy(col[i], d[i][j], sizeof(col[i]));
        transform(col, out);
        for (int i = 0; i < Out; ++i) std::memcpy(r[i][j], out[i], sizeof(out[i]));
    }
}

// The 36 values (ξ) of kL tiles from a [row][ξ][tile] buffer (V or M), and back: `at` points at
// [row][0][first tile], ξ-rows are nb floats apart. Prefetching the next batch hides the 36 streams.
inline void load_xi(const float* at, int64_t nb, float (&m)[6][6][kL]) {
    for (int xi = 0; xi < 36; ++xi) {
        __builtin_prefetch(at + xi * nb + 4 * kL);
        std::memcpy(m[xi / 6][xi % 6], at + xi * nb, sizeof(m[0][0]));
    }
}
inline void store_xi_row(int i, const float (&out)[6][kL], float* at, int64_t nb) {  // ξ = 6 i .. 6 i + 5
    for (int j = 0; j < 6; ++j) {
        float* dst = at + (i * 6 + j) * nb;
        __builtin_prefetch(dst + 4 * kL, 1);
        std::memcpy(dst, out[j], sizeof(out[j]));
    }
}

// n <= 4·kL floats. The whole-row case is a loop of constant length, which the compiler turns into vector
// moves (memcpy, even of a constant 128 bytes, stayed a library call per row: 4-5% of an evaluation).
inline void copy_row(float* dst, const float* src, int n) {
    if (n == 4 * kL) {
        for (int i = 0; i < 4 * kL; ++i) dst[i] = src[i];
        return;
    }
    std::memcpy(dst, src, sizeof(float) * size_t(n));
}

// ---- tiles <-> lanes: the kL = 8 neighbouring tiles of a row as the lanes of one vector ----
// A row of the input window holds 4·kL + 2 floats; tile l's 6 columns are floats 4l .. 4l + 5, so
// column j of all the tiles is the stride-4 slice v[j][l] = src[4l + j]. Element by element that is 48
// loads and inserts per row; as an 8x4 transpose of four vectors (unpack, shuffle, permute: GCC's vector
// extensions, which each clone lowers to its own instructions) it is a dozen operations.
static_assert(kL == 8, "the lane shuffles below are written for 8 tiles");
// These helpers have internal linkage and are inlined into each clone, so the vector ABI that GCC warns
// about (passing 32-byte vectors without AVX) is never crossed.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
// always_inline: a call between a clone and a baseline copy would pass the vectors differently.
#define NST_LANES_INLINE inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__)
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
NST_LANES_INLINE v8f load8(const float* p) {
    v8f v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
NST_LANES_INLINE void store8(float* p, const v8f& v) { std::memcpy(p, &v, sizeof(v)); }

// v[j][l] = src[4l + j] for j < 4 (src: 32 floats).
NST_LANES_INLINE void gather4(const float* src, float (&v)[4][kL]) {
    const v8f r0 = load8(src), r1 = load8(src + 8), r2 = load8(src + 16), r3 = load8(src + 24);
    const v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};  // unpack low / high
    const v8i even = {0, 1, 8, 9, 4, 5, 12, 13}, odd = {2, 3, 10, 11, 6, 7, 14, 15};
    const v8i order = {0, 4, 1, 5, 2, 6, 3, 7};  // tiles 0 2 4 6 1 3 5 7 -> 0 .. 7
    const v8f t0 = __builtin_shuffle(r0, r1, lo), t1 = __builtin_shuffle(r0, r1, hi);
    const v8f t2 = __builtin_shuffle(r2, r3, lo), t3 = __builtin_shuffle(r2, r3, hi);
    store8(v[0], __builtin_shuffle(__builtin_shuffle(t0, t2, even), order));
    store8(v[1], __builtin_shuffle(__builtin_shuffle(t0, t2, odd), order));
    store8(v[2], __builtin_shuffle(__builtin_shuffle(t1, t3, even), order));
    store8(v[3], __builtin_shuffle(__builtin_shuffle(t1, t3, odd), order));
}

// v[j][l] = src[4l + j] for j < 6 (src: 34 floats): columns 4 and 5 are columns 0 and 1 of the next tile.
NST_LANES_INLINE void gather6(const float* src, float (&v)[6][kL]) {
    gather4(src, reinterpret_cast<float(&)[4][kL]>(v));
    const v8i next = {1, 2, 3, 4, 5, 6, 7, 8};  // lanes 1 .. 7, then the second operand's lane 0
    store8(v[4], __builtin_shuffle(load8(v[0]), v8f{} + src[32], next));
    store8(v[5], __builtin_shuffle(load8(v[1]), v8f{} + src[33], next));
}

// dst[4l + j] = w[j][l] for j < 4 (dst: 32 floats), the inverse of gather4.
NST_LANES_INLINE void scatter4(const float (&w)[4][kL], float* dst) {
    const v8i order = {0, 2, 4, 6, 1, 3, 5, 7};  // tiles 0 .. 7 -> 0 2 4 6 1 3 5 7
    const v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
    const v8i even = {0, 1, 8, 9, 4, 5, 12, 13}, odd = {2, 3, 10, 11, 6, 7, 14, 15};
    const v8f s0 = __builtin_shuffle(load8(w[0]), order), s1 = __builtin_shuffle(load8(w[1]), order);
    const v8f s2 = __builtin_shuffle(load8(w[2]), order), s3 = __builtin_shuffle(load8(w[3]), order);
    const v8f t0 = __builtin_shuffle(s0, s1, lo), t1 = __builtin_shuffle(s0, s1, hi);
    const v8f t2 = __builtin_shuffle(s2, s3, lo), t3 = __builtin_shuffle(s2, s3, hi);
    store8(dst, __builtin_shuffle(t0, t2, even));
    store8(dst + 8, __builtin_shuffle(t0, t2, odd));
    store8(dst + 16, __builtin_shuffle(t1, t3, even));
    store8(dst + 24, __builtin_shuffle(t1, t3, odd));
}

// dst[4l + j] += w[j][l] for j < 6 (dst: 34 floats): tiles overlap, so columns 4 and 5 of tile l add to
// columns 0 and 1 of tile l + 1 (and the last tile's to floats 32 and 33).
NST_LANES_INLINE void scatter_add6(const float (&w)[6][kL], float* dst) {
    const v8i prev = {8, 0, 1, 2, 3, 4, 5, 6};  // lane l <- lane l - 1, lane 0 <- 0
    float sum[4][kL], row[4 * kL];
    store8(sum[0], load8(w[0]) + __builtin_shuffle(load8(w[4]), v8f{}, prev));
    store8(sum[1], load8(w[1]) + __builtin_shuffle(load8(w[5]), v8f{}, prev));
    std::memcpy(sum[2], w[2], sizeof(sum[2]));
    std::memcpy(sum[3], w[3], sizeof(sum[3]));
    scatter4(sum, row);
    for (int i = 0; i < 4 * kL; i += 8) store8(dst + i, load8(dst + i) + load8(row + i));
    dst[32] += w[4][kL - 1];
    dst[33] += w[5][kL - 1];
}
#pragma GCC diagnostic pop
#else  // other compilers: the same, element by element
inline void gather4(const float* src, float (&v)[4][kL]) {
    for (int j = 0; j < 4; ++j)
        for (int l = 0; l < kL; ++l) v[j][l] = src[4 * l + j];
}
inline void gather6(const float* src, float (&v)[6][kL]) {
    for (int j = 0; j < 6; ++j)
        for (int l = 0; l < kL; ++l) v[j][l] = src[4 * l + j];
}
inline void scatter4(const float (&w)[4][kL], float* dst) {
    for (int l = 0; l < kL; ++l)
        for (int j = 0; j < 4; ++j) dst[4 * l + j] = w[j][l];
}
inline void scatter_add6(const float (&w)[6][kL], float* dst) {
    for (int l = 0; l < kL; ++l)
        for (int j = 0; j < 6; ++j) dst[4 * l + j] += w[j][l];
}
#endif

// The input window of the kL tiles from tile t on: rows 4ty-1 .. 4ty+4, columns 4tx-1 .. 4tx+4kL, zero
// outside the image. Interior windows are read in place; the others (the image's border, the padding
// tiles of a row) are gathered into `local`, so no padded copy of the plane is made.
constexpr int kWinW = 4 * kL + 2;
struct Window {
    int h0, w0;     // the window's first row and column (may be -1, or past the edge)
    bool interior;  // wholly inside the image
};
inline Window window(const Tiling& g, int64_t t) {
    const int h0 = int(t / g.twp) * 4 - 1, w0 = int(t % g.twp) * 4 - 1;
    return {h0, w0, h0 >= 0 && h0 + 6 <= g.H && w0 >= 0 && w0 + kWinW <= g.W};
}
// Returns where row 0 of the window is; its rows are *stride floats apart.
inline const float* read_window(const float* plane, const Tiling& g, const Window& w, float (&local)[6][kWinW],
                                int64_t* stride) {
    if (w.interior) {
        *stride = g.W;
        return plane + int64_t(w.h0) * g.W + w.w0;
    }
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < kWinW; ++j) {
            const int h = w.h0 + i, c = w.w0 + j;
            local[i][j] = (h >= 0 && h < g.H && c >= 0 && c < g.W) ? plane[int64_t(h) * g.W + c] : 0.f;
        }
    *stride = kWinW;
    return &local[0][0];
}

// V[c][ξ][t - t0] = (Bᵀ d B)[ξ] for tiles [t0, t0 + nb) of every channel in [c0, c1).
NST_SIMD_CLONES void input_transform(const float* x, const Tiling& g, int c0, int c1, int64_t t0, int64_t nb, float* V) {
    for (int c = c0; c < c1; ++c) {
        const float* plane = x + int64_t(c) * g.H * g.W;
        for (int64_t tb = 0; tb < nb; tb += kL) {
            float local[6][kWinW];
            int64_t stride;
            const float* src = read_window(plane, g, window(g, t0 + tb), local, &stride);
            float d[6][6][kL], r[6][6][kL], out[6][kL];
            for (int i = 0; i < 6; ++i) gather6(src + i * stride, d[i]);
            columns(d, r, bt6);  // Bᵀ d
            for (int i = 0; i < 6; ++i) {  // (Bᵀ d) B, row by row
                bt6(r[i], out);
                store_xi_row(i, out, V + int64_t(c) * 36 * nb + tb, nb);
            }
        }
    }
}

// y[k] (tiles [t0, t0 + nb)) = Aᵀ M A (+ bias, then ReLU if relu) for k in [k0, k1), clipped at the image's edge.
NST_SIMD_CLONES void output_transform(const float* M, const Tiling& g, int k0, int k1, int64_t t0, int64_t nb,
                                      const float* b, bool relu, float* y) {
    for (int k = k0; k < k1; ++k) {
        float* plane = y + int64_t(k) * g.H * g.W;
        const float bias = b ? b[k] : 0.f;
        for (int64_t tb = 0; tb < nb; tb += kL) {
            const int64_t t = t0 + tb;
            const int h0 = int(t / g.twp) * 4, w0 = int(t % g.twp) * 4;
            if (w0 >= g.W) continue;  // a batch of padding tiles
            float m[6][6][kL], r[4][6][kL], out[4][kL];
            load_xi(M + int64_t(k) * 36 * nb + tb, nb, m);
            columns(m, r, at4);  // Aᵀ m
            const int cols = std::min(4 * kL, g.W - w0);
            for (int i = 0; i < 4 && h0 + i < g.H; ++i) {  // (Aᵀ m) A, row i of the kL tiles
                at4(r[i], out);
                for (int j = 0; j < 4; ++j)
                    for (int l = 0; l < kL; ++l) out[j][l] = relu_if(relu, out[j][l] + bias);
                float row[4 * kL];
                scatter4(out, row);
                copy_row(plane + int64_t(h0 + i) * g.W + w0, row, cols);
            }
        }
    }
}

// dM[k][ξ][t - t0] = (A dY Aᵀ)[ξ], dY the 4x4 output tile of dy (zero past the edge).
NST_SIMD_CLONES void output_transform_adjoint(const float* dy, const Tiling& g, int k0, int k1, int64_t t0, int64_t nb,
                                              float* dM) {
    for (int k = k0; k < k1; ++k) {
        const float* plane = dy + int64_t(k) * g.H * g.W;
        for (int64_t tb = 0; tb < nb; tb += kL) {
            const int64_t t = t0 + tb;
            const int h0 = int(t / g.twp) * 4, w0 = int(t % g.twp) * 4;
            const int cols = std::max(0, std::min(4 * kL, g.W - w0));
            float yt[4][4][kL], r[6][4][kL], out[6][kL];
            for (int i = 0; i < 4; ++i) {
                float row[4 * kL] = {};
                if (h0 + i < g.H && cols > 0) copy_row(row, plane + int64_t(h0 + i) * g.W + w0, cols);
                gather4(row, yt[i]);
            }
            columns(yt, r, a6);  // A dY
            for (int i = 0; i < 6; ++i) {  // (A dY) Aᵀ
                a6(r[i], out);
                store_xi_row(i, out, dM + int64_t(k) * 36 * nb + tb, nb);
            }
        }
    }
}

// dx[c] += B dV Bᵀ, each 6x6 tile added back where its input tile came from (the adjoint of
// input_transform: neighbouring tiles overlap by two rows and columns), for c in [c0, c1). Interior
// windows add into dx in place; the others add into a local window, whose part inside the image is
// then added to dx (the rest is the zero padding, whose gradient is dropped).
NST_SIMD_CLONES void input_transform_adjoint(const float* dV, const Tiling& g, int c0, int c1, int64_t t0, int64_t nb,
                                             float* dx) {
    for (int c = c0; c < c1; ++c) {
        float* plane = dx + int64_t(c) * g.H * g.W;
        for (int64_t tb = 0; tb < nb; tb += kL) {
            const Window w = window(g, t0 + tb);
            float local[6][kWinW] = {};
            float* dst = w.interior ? plane + int64_t(w.h0) * g.W + w.w0 : &local[0][0];
            const int64_t stride = w.interior ? g.W : kWinW;
            float v[6][6][kL], r[6][6][kL], out[6][kL];
            load_xi(dV + int64_t(c) * 36 * nb + tb, nb, v);
            columns(v, r, b6);  // B v
            for (int i = 0; i < 6; ++i) {  // (B v) Bᵀ, added to row i of the kL overlapping tiles
                b6(r[i], out);
                scatter_add6(out, dst + i * stride);
            }
            if (w.interior) continue;
            for (int i = 0; i < 6; ++i)
                for (int j = 0; j < kWinW; ++j) {
                    const int h = w.h0 + i, col = w.w0 + j;
                    if (h >= 0 && h < g.H && col >= 0 && col < g.W) plane[int64_t(h) * g.W + col] += local[i][j];
                }
        }
    }
}

// Tiles per block (a multiple of kL) so that V and M fit g_buffer_floats; when U is small enough to stay
// in cache across blocks (VGG's conv1_x to conv2_x: at most 36·128·128 floats), the block is cut to 1 Mi
// floats (4 MiB) so that V and M stay in cache between the transform and the product too. The early layers
// are memory-bound on V and M (conv1_2 at 256x170: 25 MB each with one block); measured on a 2-core Xeon,
// conv1_2's forward went from 15 to 12 ms and conv2_x's by 1 ms each, while conv3_x (U 9.4 MB, read again
// for every block) got slower with small blocks, so they keep one.
constexpr int64_t kSmallU = 36 * 128 * 128, kCachedBlock = 1 << 20;
int64_t tiles_per_block(const ConvShape& s, const Tiling& g) {
    const int64_t per_tile = 36 * int64_t(s.C + s.K);
    const int64_t U = 36 * int64_t(s.K) * s.C;
    const int64_t budget = U <= kSmallU ? std::min(g_buffer_floats, kCachedBlock) : g_buffer_floats;
    const int64_t nb = std::max<int64_t>(kL, budget / per_tile / kL * kL);
    return std::min(nb, g.tiles());
}

// Calls step(n, t0, nb, V, M) for every image n and every block of tiles [t0, t0 + nb), where V
// (C·36·nb floats) and M (K·36·nb floats) are laid out [row][ξ][tile] in this thread's scratch: row c
// of V_ξ is 36·nb floats after row c - 1, so the products see V_ξ and M_ξ with that leading dimension.
template <class Step> void for_each_tile_block(const ConvShape& s, const Tiling& g, Step step) {
    const int64_t block = tiles_per_block(s, g);
    for (int n = 0; n < s.N; ++n)
        for (int64_t t0 = 0; t0 < g.tiles(); t0 += block) {
            const int64_t nb = std::min(block, g.tiles() - t0);  // a multiple of kL, as tiles() is
            float* V = thread_scratch(1, 36 * nb * (s.C + s.K));
            step(n, t0, nb, V, V + 36 * nb * s.C);
        }
}

}  // namespace

int64_t set_winograd_buffer_floats(int64_t floats) {
    const int64_t old = g_buffer_floats;
    g_buffer_floats = std::max<int64_t>(1, floats);
    return old;
}

// A 3x3 stride-1 conv without padding ("valid", as networks that reflect-pad first have it: P = H - 2) is
// the interior of the same conv with pad 1: forward computes that into a buffer and crops it; backward
// embeds dy in a zero border and runs the same conv's backward. The 2-pixel rim costs (H·W)/(P·Q) - 1 of
// extra work (2% at 256x171) against im2col's copy of 9 C·P·Q floats.
bool is_3x3_valid(const ConvShape& s) {
    return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 && s.H >= 3 && s.W >= 3;
}

// A product's depth is C (forward) or K (backward): with an image's 3 channels the 36 products have
// almost nothing to multiply per transformed value, and im2col wins (VGG's conv1_1 at 256x170 on a 2-core
// Xeon: 2.2 against 5.1 ms forward, 3.2 against 3.7 backward).
bool winograd_fits(const ConvShape& s) { return (is_3x3_same(s) || is_3x3_valid(s)) && s.C > 4; }

namespace {

ConvShape as_same(ConvShape s) {
    s.pad_h = s.pad_w = 1;
    return s;
}

float* valid_buffer(int64_t floats) {  // the calling thread's, grow-only (the kernel's own scratch slots stay free)
    thread_local std::vector<float> b;
    if (int64_t(b.size()) < floats) b.resize(size_t(floats));
    return b.data();
}

}  // namespace

// The prepared buffer: 36 packings of U_ξ (K x C), pack_a's size each.
// Decided on the weights' side alone (prepare_conv2d_weights knows no input size): 3x3 stride 1 with pad 1
// or none, and not a conv the direct kernel takes (conv2d_forward_winograd sends those there).
int64_t conv2d_prepared_size_winograd(const ConvShape& s) {
    const bool winograd = s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == s.pad_w &&
                          (s.pad_h == 0 || s.pad_h == 1) && s.C > 4;  // as winograd_fits
    const bool direct = conv2d_direct_takes(s) && __builtin_cpu_supports("avx512f");
    return winograd && !direct ? 36 * packed_a_floats(s.K, s.C) : 0;
}
namespace {
// Where packing ξ starts: its size comes from packing 0's own header, not from the micro-kernel active
// now, so a buffer prepared under another kernel is never read out of bounds (sgemm_packed then refuses
// it by name: "pack it again").
int64_t packing_offset(const float* P, int64_t xi) { return xi * packed_a_floats(P); }
}  // namespace

// U[ξ][k][c] = (G g Gᵀ)[ξ], g = w[k][c] (3x3), then packed.
// G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
void conv2d_prepare_winograd(const float* w, float* P, const ConvShape& s) {
    const int64_t KC = int64_t(s.K) * s.C;
    std::vector<float> U(size_t(36 * KC));
    parallel_for(KC, 256, [&](int64_t b, int64_t e) {
        for (int64_t kc = b; kc < e; ++kc) {
            const float* g = w + kc * 9;
            const auto G = [](const float* v, int stride, float* out) {  // out (6) = G v (3), v strided
                const float v0 = v[0], v1 = v[stride], v2 = v[2 * stride];
                out[0] = v0 / 4;
                out[1] = -(v0 + v1 + v2) / 6;
                out[2] = -(v0 - v1 + v2) / 6;
                out[3] = v0 / 24 + v1 / 12 + v2 / 6;
                out[4] = v0 / 24 - v1 / 12 + v2 / 6;
                out[5] = v2;
            };
            float t[6][3], u[6];
            for (int j = 0; j < 3; ++j) {  // t = G g, column j
                float col[6];
                G(g + j, 3, col);
                for (int i = 0; i < 6; ++i) t[i][j] = col[i];
            }
            for (int i = 0; i < 6; ++i) {  // (G g) Gᵀ, row i
                G(t[i], 1, u);
                for (int j = 0; j < 6; ++j) U[size_t((i * 6 + j) * KC + kc)] = u[j];
            }
        }
    });
    parallel_for(36, 1, [&](int64_t x0, int64_t x1) {
        for (int64_t xi = x0; xi < x1; ++xi) {
            const float* Ux = U.data() + xi * KC;
            pack_a(Trans::No, s.K, s.C, Ux, s.C, P + xi * packed_a_floats(s.K, s.C));
        }
    });
}

void conv2d_forward_winograd_prepared(const float* x, const float* P, const float* b, float* y, const ConvShape& s) {
    if (!winograd_fits(s)) throw Error("conv2d winograd: called on a shape it does not apply to");
    if (is_3x3_valid(s)) {
        const ConvShape same = as_same(s);
        float* full = valid_buffer(same.y_size());
        conv2d_forward_winograd_prepared(x, P, b, full, same);
        const int Pp = s.P(), Q = s.Q();
        parallel_for(int64_t(s.N) * s.K, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i)
                for (int p = 0; p < Pp; ++p)
                    std::memcpy(y + (i * Pp + p) * Q, full + (i * s.H + p + 1) * s.W + 1, sizeof(float) * size_t(Q));
        });
        return;
    }
    const Tiling g = tiling(s);
    for_each_tile_block(s, g, [&](int n, int64_t t0, int64_t nb, float* V, float* M) {
        const float* xn = x + int64_t(n) * s.C * s.H * s.W;
        parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) { input_transform(xn, g, int(c0), int(c1), t0, nb, V); });
        parallel_for(36, 1, [&](int64_t x0, int64_t x1) {  // M_ξ = U_ξ V_ξ
            for (int64_t xi = x0; xi < x1; ++xi)
                sgemm_packed(s.K, nb, s.C, 1.f, P + packing_offset(P, xi), Trans::No, V + xi * nb, 36 * nb, 0.f,
                             M + xi * nb, 36 * nb);
        });
        float* yn = y + int64_t(n) * s.K * s.H * s.W;
        parallel_for(s.K, 1, [&](int64_t k0, int64_t k1) { output_transform(M, g, int(k0), int(k1), t0, nb, b, s.relu, yn); });
    });
}

void conv2d_backward_data_winograd_prepared(const float* dy, const float* P, float* dx, const ConvShape& s) {
    if (!winograd_fits(s)) throw Error("conv2d winograd: called on a shape it does not apply to");
    if (is_3x3_valid(s)) {
        const ConvShape same = as_same(s);
        float* full = valid_buffer(same.y_size());
        const int Pp = s.P(), Q = s.Q();
        parallel_for(int64_t(s.N) * s.K, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                float* plane = full + i * s.H * s.W;
                std::memset(plane, 0, sizeof(float) * size_t(s.H) * size_t(s.W));
                for (int p = 0; p < Pp; ++p) std::memcpy(plane + (p + 1) * s.W + 1, dy + (i * Pp + p) * Q, sizeof(float) * size_t(Q));
            }
        });
        conv2d_backward_data_winograd_prepared(full, P, dx, same);
        return;
    }
    const Tiling g = tiling(s);
    std::memset(dx, 0, sizeof(float) * size_t(s.x_size()));
    for_each_tile_block(s, g, [&](int n, int64_t t0, int64_t nb, float* dV, float* dM) {
        const float* dyn = dy + int64_t(n) * s.K * s.H * s.W;
        parallel_for(s.K, 1, [&](int64_t k0, int64_t k1) { output_transform_adjoint(dyn, g, int(k0), int(k1), t0, nb, dM); });
        parallel_for(36, 1, [&](int64_t x0, int64_t x1) {  // dV_ξ = U_ξᵀ dM_ξ
            for (int64_t xi = x0; xi < x1; ++xi)
                sgemm_packed_t(s.C, nb, s.K, 1.f, P + packing_offset(P, xi), Trans::No, dM + xi * nb, 36 * nb, 0.f,
                               dV + xi * nb, 36 * nb);
        });
        float* dxn = dx + int64_t(n) * s.C * s.H * s.W;
        parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) { input_transform_adjoint(dV, g, int(c0), int(c1), t0, nb, dxn); });
    });
}

void conv2d_forward_winograd(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (conv2d_forward_direct(x, w, b, y, s)) return;  // few input or output channels: no im2col copy
    if (!winograd_fits(s)) return conv2d_forward_gemm(x, w, b, y, s);
    std::vector<float> P(size_t(36 * packed_a_floats(s.K, s.C)));  // (not the prepared size: 0 where direct takes the forward)
    conv2d_prepare_winograd(w, P.data(), s);
    conv2d_forward_winograd_prepared(x, P.data(), b, y, s);
}

void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, const ConvShape& s) {
    if (!winograd_fits(s)) return conv2d_backward_data_direct_or_gemm(dy, w, dx, s);
    std::vector<float> P(size_t(36 * packed_a_floats(s.K, s.C)));  // (not the prepared size: 0 where direct takes the forward)
    conv2d_prepare_winograd(w, P.data(), s);
    conv2d_backward_data_winograd_prepared(dy, P.data(), dx, s);
}

}  // namespace nst::cpu
