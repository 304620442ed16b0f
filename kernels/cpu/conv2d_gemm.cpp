// conv2d, CPU variants "im2col_gemm" and "blas": lower each block of output rows to a matrix (im2col)
// and let a GEMM do the multiply-adds: the project's own (gemm.h) or, as the library yardstick, OpenBLAS's
// SGEMM (compiled when CMake finds it). The same three products give all three passes:
//   forward          Y[K, PQ]    = W[K, CRS] · col[CRS, PQ] (+ b)
//   backward-data    dcol[CRS,PQ] = Wᵀ · dY,   then col2im adds dcol back into dx
//   backward-weight  dW[K, CRS] += dY · colᵀ
// Output rows are processed in blocks so the col buffer stays near 16 MiB whatever the image size.
// Threads (parallel.h): the forward runs its row blocks on the pool's threads (each with its own col
// buffer); backward-data splits the input channels, so that col2im's overlapping adds never race;
// backward-weight splits dW's columns by (channel, filter row) pairs: each thread builds only its rows
// of col and owns its columns of dW, so nothing is reduced and nothing races (the first layer's three
// channels still give 27 pairs to share).
// The reference kernels (conv2d.cpp) remain the spec.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#ifdef NST_HAVE_OPENBLAS
#include "kernels/cpu/openblas.h"
#endif

namespace nst::cpu {

namespace {

constexpr int64_t kColBudget = 4 << 20;  // floats in the col buffer (16 MiB)

float* col_buffer(int64_t floats) { return thread_scratch(0, floats); }

// Output rows per block, so that CRS * rows * Q floats fit the budget (at least one row); with
// `spread`, also small enough that every thread gets a block.
int rows_per_block(const ConvShape& s, bool spread = false) {
    const int64_t per_row = int64_t(s.C) * s.R * s.S * s.Q();
    int64_t rows = std::max<int64_t>(1, std::min<int64_t>(s.P(), kColBudget / std::max<int64_t>(per_row, 1)));
    if (spread) rows = std::min<int64_t>(rows, (s.P() + pool_threads() - 1) / pool_threads());
    return int(std::max<int64_t>(1, rows));
}

// The columns q whose w = q*sw - pw + t falls inside [0, W): q in [lo, hi).
struct QRange {
    int lo, hi;
};
QRange inside_columns(const ConvShape& s, int t) {
    const int Q = s.Q(), sw = s.stride_w, first = s.pad_w - t, last = s.W - 1 + s.pad_w - t;
    const int lo = std::min(Q, first <= 0 ? 0 : (first + sw - 1) / sw);
    return {lo, std::max(lo, last < 0 ? 0 : std::min(Q, last / sw + 1))};
}

// col[(u - u0, t), (p - p0)*Q + q] = x[c, p*sh - ph + r, q*sw - pw + t] (0 outside), for p in [p0, p1)
// and the (channel, filter row) pairs u = c*R + r in [u0, u1) (all of them: [0, C*R)).
// The columns q whose w falls inside the row are found once per (c, r, t), so that the row's inner loop
// is a plain copy (stride 1: memcpy) or a strided gather, with the zeros of the padding set around it.
void im2col(const float* x, float* col, const ConvShape& s, int p0, int p1, int u0, int u1) {
    const int Q = s.Q(), rows = p1 - p0, sw = s.stride_w;
    for (int u = u0; u < u1; ++u)
        for (int t = 0; t < s.S; ++t) {
            const int c = u / s.R, r = u % s.R;
            float* dst = col + (int64_t(u - u0) * s.S + t) * rows * Q;
            const float* plane = x + int64_t(c) * s.H * s.W;
            const auto [q_lo, q_hi] = inside_columns(s, t);
            for (int p = p0; p < p1; ++p, dst += Q) {
                const int h = p * s.stride_h - s.pad_h + r;
                if (h < 0 || h >= s.H) {
                    std::memset(dst, 0, sizeof(float) * size_t(Q));
                    continue;
                }
                if (q_lo > 0) std::memset(dst, 0, sizeof(float) * size_t(q_lo));
                if (q_hi < Q) std::memset(dst + q_hi, 0, sizeof(float) * size_t(Q - q_hi));
                const float* src = plane + int64_t(h) * s.W + (int64_t(q_lo) * sw - s.pad_w + t);
                if (sw == 1) {
                    std::memcpy(dst + q_lo, src, sizeof(float) * size_t(q_hi - q_lo));
                } else {
                    for (int q = q_lo; q < q_hi; ++q) dst[q] = src[int64_t(q - q_lo) * sw];
                }
            }
        }
}

// The adjoint of im2col for channels [c0, c1): dx[c, h, w] += col[(c - c0, r, t), (p - p0)*Q + q].
// Only the columns that land inside the row are visited (no test per element).
void col2im_add(const float* col, float* dx, const ConvShape& s, int p0, int p1, int c0, int c1) {
    const int Q = s.Q(), rows = p1 - p0, sw = s.stride_w;
    for (int c = c0; c < c1; ++c)
        for (int r = 0; r < s.R; ++r)
            for (int t = 0; t < s.S; ++t) {
                const float* src = col + ((int64_t(c - c0) * s.R + r) * s.S + t) * rows * Q;
                float* plane = dx + int64_t(c) * s.H * s.W;
                const auto [q_lo, q_hi] = inside_columns(s, t);
                for (int p = p0; p < p1; ++p, src += Q) {
                    const int h = p * s.stride_h - s.pad_h + r;
                    if (h < 0 || h >= s.H) continue;
                    float* row = plane + int64_t(h) * s.W - s.pad_w + t;  // row[q*sw] is w = q*sw - pw + t
                    if (sw == 1)
                        for (int q = q_lo; q < q_hi; ++q) row[q] += src[q];
                    else
                        for (int q = q_lo; q < q_hi; ++q) row[int64_t(q) * sw] += src[q];
                }
            }
}

// The three passes, on either GEMM (both have sgemm's signature).
using Gemm = void (*)(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                      float, float*, int64_t);

void forward(Gemm gemm, const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    const int P = s.P(), Q = s.Q(), CRS = s.C * s.R * s.S, step = rows_per_block(s, true);
    const int64_t PQ = int64_t(P) * Q;
    for (int n = 0; n < s.N; ++n) {
        const float* xn = x + int64_t(n) * s.C * s.H * s.W;
        float* yn = y + int64_t(n) * s.K * PQ;
        parallel_for((P + step - 1) / step, 1, [&](int64_t blk0, int64_t blk1) {
            for (int64_t blk = blk0; blk < blk1; ++blk) {
                const int p0 = int(blk) * step, p1 = std::min(P, p0 + step), cols = (p1 - p0) * Q;
                float* col = col_buffer(int64_t(CRS) * cols);
                im2col(xn, col, s, p0, p1, 0, s.C * s.R);
                // y[:, p0*Q : p1*Q] = W · col   (row-major, leading dimension PQ), + bias, ReLU under s.relu:
                // applied to this block's rows while they are still in cache
                gemm(Trans::No, Trans::No, s.K, cols, CRS, 1.f, w, CRS, col, cols, 0.f, yn + int64_t(p0) * Q, PQ);
                if (b || s.relu)
                    for (int k = 0; k < s.K; ++k) {
                        float* row = yn + int64_t(k) * PQ + int64_t(p0) * Q;
                        const float bk = b ? b[k] : 0.f;
                        for (int64_t i = 0; i < cols; ++i) row[i] = conv_epilogue(row[i] + bk, s);
                    }
            }
        });
    }
}

void backward_data(Gemm gemm, const float* dy, const float* w, float* dx, const ConvShape& s) {
    const int P = s.P(), Q = s.Q(), RS = s.R * s.S, CRS = s.C * RS, step = rows_per_block(s);
    const int64_t PQ = int64_t(P) * Q;
    std::memset(dx, 0, sizeof(float) * size_t(s.x_size()));
    for (int n = 0; n < s.N; ++n) {
        const float* dyn = dy + int64_t(n) * s.K * PQ;
        float* dxn = dx + int64_t(n) * s.C * s.H * s.W;
        parallel_for(s.C, 1, [&](int64_t c0, int64_t c1) {
            const int rows_c = int(c1 - c0) * RS;  // this thread's rows of dcol: channels [c0, c1)
            for (int p0 = 0; p0 < P; p0 += step) {
                const int p1 = std::min(P, p0 + step), cols = (p1 - p0) * Q;
                float* col = col_buffer(int64_t(rows_c) * cols);
                // dcol[(c,r,t), :] = W[:, (c,r,t)]ᵀ · dY[:, p0*Q : p1*Q]
                gemm(Trans::Yes, Trans::No, rows_c, cols, s.K, 1.f, w + c0 * RS, CRS, dyn + int64_t(p0) * Q, PQ, 0.f,
                     col, cols);
                col2im_add(col, dxn, s, p0, p1, int(c0), int(c1));
            }
        });
    }
}

void backward_weight(Gemm gemm, const float* x, const float* dy, float* dw, const ConvShape& s) {
    const int P = s.P(), Q = s.Q(), CRS = s.C * s.R * s.S, step = rows_per_block(s);
    const int64_t PQ = int64_t(P) * Q;
    parallel_for(int64_t(s.C) * s.R, 1, [&](int64_t u0, int64_t u1) {
        const int rows_u = int(u1 - u0) * s.S;  // this thread's rows of col, and columns of dW
        float* dw_u = dw + u0 * s.S;
        for (int n = 0; n < s.N; ++n) {
            const float* xn = x + int64_t(n) * s.C * s.H * s.W;
            const float* dyn = dy + int64_t(n) * s.K * PQ;
            for (int p0 = 0; p0 < P; p0 += step) {
                const int p1 = std::min(P, p0 + step), cols = (p1 - p0) * Q;
                float* col = col_buffer(int64_t(rows_u) * cols);
                im2col(xn, col, s, p0, p1, int(u0), int(u1));
                // dW[:, u0*S : u1*S] (+)= dY[:, p0*Q : p1*Q] · colᵀ
                const bool first = n == 0 && p0 == 0;
                gemm(Trans::No, Trans::Yes, s.K, rows_u, cols, 1.f, dyn + int64_t(p0) * Q, PQ, col, cols,
                     first ? 0.f : 1.f, dw_u, CRS);
            }
        }
    });
}

}  // namespace

void conv2d_forward_gemm(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    forward(sgemm, x, w, b, y, s);
}
void conv2d_backward_data_gemm(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data(sgemm, dy, w, dx, s);
}
void conv2d_backward_weight_gemm(const float* x, const float* dy, float* dw, const ConvShape& s) {
    backward_weight(sgemm, x, dy, dw, s);
}

#ifdef NST_HAVE_OPENBLAS
void conv2d_forward_blas(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    forward(openblas_sgemm, x, w, b, y, s);
}
void conv2d_backward_data_blas(const float* dy, const float* w, float* dx, const ConvShape& s) {
    backward_data(openblas_sgemm, dy, w, dx, s);
}
void conv2d_backward_weight_blas(const float* x, const float* dy, float* dw, const ConvShape& s) {
    backward_weight(openblas_sgemm, x, dy, dw, s);
}
#endif

}  // namespace nst::cpu
