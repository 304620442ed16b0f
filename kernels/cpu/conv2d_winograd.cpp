// conv2d, CPU variant "winograd": Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2015) for the
// 3x3, stride-1, pad-1 convolutions VGG is made of; other shapes fall back to im2col+GEMM.
//
// Each 2x2 output tile comes from a 4x4 input tile d: Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A.
// The sum over channels, for each of the 16 positions ξ of the 4x4 transformed tile, is a matrix product
//   M_ξ[K, tiles] = U_ξ[K, C] · V_ξ[C, tiles]
// done by OpenBLAS: 16 multiplies per 4 outputs instead of 36, i.e. 2.25x fewer than direct/GEMM.
// backward-data of such a conv is the same conv of dy with the kernel flipped and its in/out channels
// swapped, so it reuses the forward path. Tiles are processed in blocks to bound the buffers.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_gemm_kernels.h"
#include "kernels/cpu/cpu_kernels.h"

namespace nst::cpu {

namespace {

bool winograd_applies(const ConvShape& s) {
    return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 && s.pad_w == 1;
}

// U[ξ][k][c] = (G g Gᵀ)[ξ] for each filter g = w[k][c] (3x3).
void transform_filters(const float* w, int K, int C, std::vector<float>& U) {
    U.resize(size_t(16) * K * C);
    for (int k = 0; k < K; ++k)
        for (int c = 0; c < C; ++c) {
            const float* g = w + (int64_t(k) * C + c) * 9;
            float t[4][3];  // G g: rows
            for (int j = 0; j < 3; ++j) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; ++i) {  // (G g) Gᵀ: columns
                const float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int j = 0; j < 4; ++j) U[(size_t(i * 4 + j) * K + k) * C + c] = u[j];
            }
        }
}

// One image: x (C,H,W) -> y (K,H,W), optional bias. U from transform_filters.
void winograd_image(const float* x, const std::vector<float>& U, const float* b, float* y, int C, int K, int H, int W) {
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const int64_t tiles = int64_t(th) * tw;
    // Tiles per block so that V and M (16 x {C,K} x block floats) stay near 32 MiB.
    const int64_t block = std::max<int64_t>(16, std::min<int64_t>(tiles, (int64_t(8) << 20) / (16 * int64_t(std::max(C, K)))));
    std::vector<float> V(size_t(16) * C * block), M(size_t(16) * K * block);
    for (int64_t t0 = 0; t0 < tiles; t0 += block) {
        const int64_t nb = std::min(block, tiles - t0);
        // Input transform: V[ξ][c][t] = (Bᵀ d B)[ξ], d the 4x4 input tile at (2 ty - 1, 2 tx - 1).
        for (int c = 0; c < C; ++c) {
            const float* plane = x + int64_t(c) * H * W;
            for (int64_t t = 0; t < nb; ++t) {
                const int ty = int((t0 + t) / tw), tx = int((t0 + t) % tw);
                float d[4][4];
                for (int i = 0; i < 4; ++i) {
                    const int h = 2 * ty - 1 + i;
                    for (int j = 0; j < 4; ++j) {
                        const int ww = 2 * tx - 1 + j;
                        d[i][j] = (h >= 0 && h < H && ww >= 0 && ww < W) ? plane[int64_t(h) * W + ww] : 0.f;
                    }
                }
                float r[4][4];  // Bᵀ d
                for (int j = 0; j < 4; ++j) {
                    r[0][j] = d[0][j] - d[2][j];
                    r[1][j] = d[1][j] + d[2][j];
                    r[2][j] = d[2][j] - d[1][j];
                    r[3][j] = d[1][j] - d[3][j];
                }
                for (int i = 0; i < 4; ++i) {  // (Bᵀ d) B
                    const float v[4] = {r[i][0] - r[i][2], r[i][1] + r[i][2], r[i][2] - r[i][1], r[i][1] - r[i][3]};
                    for (int j = 0; j < 4; ++j) V[(size_t(i * 4 + j) * C + c) * nb + size_t(t)] = v[j];
                }
            }
        }
        // 16 products M_ξ = U_ξ · V_ξ.
        for (int xi = 0; xi < 16; ++xi)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, int(nb), C, 1.f, U.data() + size_t(xi) * K * C, C,
                        V.data() + size_t(xi) * C * nb, int(nb), 0.f, M.data() + size_t(xi) * K * nb, int(nb));
        // Output transform: Y = Aᵀ m A, clipped at the image's edge.
        for (int k = 0; k < K; ++k) {
            float* out = y + int64_t(k) * H * W;
            const float bias = b ? b[k] : 0.f;
            for (int64_t t = 0; t < nb; ++t) {
                float m[4][4];
                for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = M[(size_t(xi) * K + k) * nb + size_t(t)];
                float a[2][4];  // Aᵀ m
                for (int j = 0; j < 4; ++j) {
                    a[0][j] = m[0][j] + m[1][j] + m[2][j];
                    a[1][j] = m[1][j] - m[2][j] - m[3][j];
                }
                const int ty = int((t0 + t) / tw), tx = int((t0 + t) % tw);
                for (int i = 0; i < 2; ++i) {
                    const int h = 2 * ty + i;
                    if (h >= H) break;
                    const float o0 = a[i][0] + a[i][1] + a[i][2], o1 = a[i][1] - a[i][2] - a[i][3];
                    out[int64_t(h) * W + 2 * tx] = o0 + bias;
                    if (2 * tx + 1 < W) out[int64_t(h) * W + 2 * tx + 1] = o1 + bias;
                }
            }
        }
    }
}

}  // namespace

void conv2d_forward_winograd(const float* x, const float* w, const float* b, float* y, const ConvShape& s) {
    if (!winograd_applies(s)) return conv2d_forward_gemm(x, w, b, y, s);
    std::vector<float> U;
    transform_filters(w, s.K, s.C, U);
    for (int n = 0; n < s.N; ++n)
        winograd_image(x + int64_t(n) * s.C * s.H * s.W, U, b, y + int64_t(n) * s.K * s.H * s.W, s.C, s.K, s.H, s.W);
}

void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, const ConvShape& s) {
    if (!winograd_applies(s)) return conv2d_backward_data_gemm(dy, w, dx, s);
    // dx = conv(dy, w') with w'[c][k][r][t] = w[k][c][2-r][2-t], same padding.
    std::vector<float> wt(size_t(s.K) * s.C * 9);
    for (int k = 0; k < s.K; ++k)
        for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < 9; ++r) wt[(size_t(c) * s.K + k) * 9 + size_t(8 - r)] = w[(int64_t(k) * s.C + c) * 9 + r];
    std::vector<float> U;
    transform_filters(wt.data(), s.C, s.K, U);
    for (int n = 0; n < s.N; ++n)
        winograd_image(dy + int64_t(n) * s.K * s.H * s.W, U, nullptr, dx + int64_t(n) * s.C * s.H * s.W, s.K, s.C, s.H, s.W);
}

}  // namespace nst::cpu
