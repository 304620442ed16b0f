// The CPU GEMM (contract in gemm.h): choosing a micro-kernel, packing, and the five loops around it.
//
// For each block of N columns (nc) and each block of K (kc):
//   pack op(B)[kc, nc] into NR-wide micro-panels Bp   (alpha folded in here; in place when M <= mc)
//   for each block of M rows (mc):
//     pack op(A)[mc, kc] into MR-tall micro-panels Ap (or point into a packing made once by pack_a)
//     for each NR micro-panel of Bp, for each MR micro-panel of Ap: the micro-kernel on one tile of C
// The first K block stores (beta = 0) or adds to C (beta = 1); other betas scale C first. Tiles on C's
// ragged edge are the micro-kernels' own business (gemm_kernels.h).
#include "kernels/cpu/gemm.h"

#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/cpu/gemm_kernels.h"
#include "base/error.h"

namespace nst::cpu {

// ---- the portable micro-kernel: the same contract in plain loops ----
namespace {
// 4 x 8: 8 accumulator vectors of 4 floats, which fit baseline x86-64's 16 SSE registers with room for
// A and B (a 4 x 16 tile spilled: 7 GFLOP/s instead of 20 on the machine of docs/performance.md).
constexpr int kPortableMR = 4, kPortableNR = 8;
void micro_portable(int64_t kc, const float* a, int64_t a_group_stride, bool a_transposed, const float* b,
                    int64_t ldb, float* c, int64_t ldc, int m, int n, bool accumulate) {
    float acc[kPortableMR][kPortableNR] = {};
    const int rs = a_transposed ? 1 : kPortableMR, is = a_transposed ? kPortableMR : 1;
    for (int64_t k0 = 0; k0 < kc; k0 += kPortableMR, a += a_group_stride) {
        const int steps = int(std::min<int64_t>(kPortableMR, kc - k0));
        for (int r = 0; r < steps; ++r, b += ldb) {
            // A's column and B's row for this step, zero past m and n (there may be nothing to read there).
            float ak[kPortableMR], bk[kPortableNR];
            for (int i = 0; i < kPortableMR; ++i) ak[i] = i < m ? a[r * rs + i * is] : 0.f;
            for (int j = 0; j < kPortableNR; ++j) bk[j] = j < n ? b[j] : 0.f;
            for (int i = 0; i < kPortableMR; ++i)
                for (int j = 0; j < kPortableNR; ++j) acc[i][j] += ak[i] * bk[j];
        }
    }
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0.f) + acc[i][j];
}
}  // namespace

const GemmKernel kGemmPortable = {"portable", 3, kPortableMR, kPortableNR, 252, 252, micro_portable, [] { return true; }};

// ---- which micro-kernel ----
namespace {

const GemmKernel* const kAll[] = {&kGemmAvx512, &kGemmAvx2, &kGemmPortable};  // widest first

const GemmKernel* find_kernel(const std::string& name) {
    for (const GemmKernel* k : kAll)
        if (name == k->name) return k;
    return nullptr;
}

std::string choices() {
    std::string s;
    for (const std::string& n : gemm_kernels_available()) s += (s.empty() ? "" : ", ") + n;
    return s;
}

const GemmKernel* checked(const std::string& name, const char* where) {
    const GemmKernel* k = find_kernel(name);
    // sgemm_packed_t reads a packing's K blocks as row blocks: kc == mc, a multiple of MR.
    if (k && (k->kc != k->mc || k->kc % k->mr != 0))
        throw Error(std::string(where) + ": GEMM micro-kernel \"" + name + "\" has kc " + std::to_string(k->kc) + ", mc " +
                    std::to_string(k->mc) + ", MR " + std::to_string(k->mr) + ": kc must equal mc and be a multiple of MR");
    if (!k) throw Error(std::string(where) + ": no GEMM micro-kernel \"" + name + "\" (this CPU runs: " + choices() + ")");
    if (!k->runs_here())
        throw Error(std::string(where) + ": this CPU cannot run the \"" + name + "\" GEMM micro-kernel (it runs: " +
                    choices() + ")");
    return k;
}

const GemmKernel*& active() {
    static const GemmKernel* k = [] {
        if (const char* v = std::getenv("NST_GEMM_KERNEL"); v && *v) return checked(v, "NST_GEMM_KERNEL");
        for (const GemmKernel* c : kAll)
            if (c->runs_here()) return checked(c->name, "sgemm");
        return &kGemmPortable;
    }();
    return k;
}

}  // namespace

const GemmKernel& active_gemm_kernel() { return *active(); }
std::string gemm_kernel_name() { return active()->name; }

std::vector<std::string> gemm_kernels_available() {
    std::vector<std::string> names;
    for (const GemmKernel* k : kAll)
        if (k->runs_here()) names.push_back(k->name);
    return names;
}

std::string set_gemm_kernel(const std::string& name) {
    const std::string old = active()->name;
    active() = checked(name, "set_gemm_kernel");
    return old;
}

// ---- packing ----
namespace {

// op(X)[r][c] for a row-major X with leading dimension ld.
inline float at(const float* X, int64_t ld, Trans t, int64_t r, int64_t c) {
    return t == Trans::No ? X[r * ld + c] : X[c * ld + r];
}

// Ap[p][k][i] = op(A)[i0 + p·MR + i][k0 + k] for the rows [i0, i0 + m), zero past m.
void pack_a_block(const GemmKernel& kern, Trans ta, const float* A, int64_t lda, int64_t i0, int64_t m, int64_t k0,
                  int64_t kc, float* Ap) {
    const int MR = kern.mr;
    for (int64_t p = 0; p < m; p += MR, Ap += kc * MR) {
        const int rows = int(std::min<int64_t>(MR, m - p));
        for (int64_t k = 0; k < kc; ++k) {
            float* dst = Ap + k * MR;
            if (ta == Trans::Yes && rows == MR) {
                std::memcpy(dst, A + (k0 + k) * lda + i0 + p, sizeof(float) * size_t(MR));  // contiguous in A
                continue;
            }
            for (int i = 0; i < rows; ++i) dst[i] = at(A, lda, ta, i0 + p + i, k0 + k);
            for (int i = rows; i < MR; ++i) dst[i] = 0.f;
        }
    }
}

// One row of op(B) = B (not transposed), n floats from src, dealt out to the NR-wide micro-panels at
// dst, dst + kc·NR, ..., the last one zero-padded. W = NR as a constant, so the whole-panel copies are
// vector moves (a memcpy of NR floats stayed a library call, 3% of an evaluation).
template <int W> void deal_row(const float* src, int64_t n, float alpha, int64_t panel_stride, float* dst) {
    int64_t p = 0;
    if (alpha == 1.f)
        for (; p + W <= n; p += W, dst += panel_stride)
            for (int j = 0; j < W; ++j) dst[j] = src[p + j];
    for (; p < n; p += W, dst += panel_stride) {
        const int cols = int(std::min<int64_t>(W, n - p));
        for (int j = 0; j < W; ++j) dst[j] = j < cols ? alpha * src[p + j] : 0.f;
    }
}

// Bp[k][j] = src[j·ld + k] for k < kc, j < W: one micro-panel of a transposed B. Eight steps at a time,
// so that the block being written (8·W floats) and the W rows being read stay in L1 and the compiler
// sees fixed trip counts (the per-element loop with its edge test was 11% of a training step).
template <int W> void transpose_panel(const float* src, int64_t ld, int64_t kc, float* Bp) {
    constexpr int kStep = 8;
    int64_t k0 = 0;
    for (; k0 + kStep <= kc; k0 += kStep)
        for (int j = 0; j < W; ++j) {
            const float* s = src + j * ld + k0;
            for (int k = 0; k < kStep; ++k) Bp[(k0 + k) * W + j] = s[k];
        }
    for (; k0 < kc; ++k0)
        for (int j = 0; j < W; ++j) Bp[k0 * W + j] = src[j * ld + k0];
}

// Bp[p][k][j] = alpha · op(B)[k0 + k][j0 + p·NR + j], zero past n.
// Not transposed, B is read row by row, each row once and in order: the Winograd products' B has rows
// 36·tiles floats apart, and reading a panel's column of rows at a time (NR floats from each of kc rows,
// kc pages) cost more in TLB misses than the copying itself (8% of a stylize iteration).
void pack_b_block(const GemmKernel& kern, Trans tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                  int64_t n, float alpha, float* Bp) {
    const int NR = kern.nr;
    if (tb == Trans::No) {
        for (int64_t k = 0; k < kc; ++k) {
            const float* src = B + (k0 + k) * ldb + j0;
            float* dst = Bp + k * NR;
            switch (NR) {
                case 32: deal_row<32>(src, n, alpha, kc * NR, dst); break;
                case 16: deal_row<16>(src, n, alpha, kc * NR, dst); break;
                case 8: deal_row<8>(src, n, alpha, kc * NR, dst); break;
                default: throw Error("sgemm: no B packing for NR = " + std::to_string(NR));
            }
        }
        return;
    }
    for (int64_t p = 0; p < n; p += NR, Bp += kc * NR) {
        const int cols = int(std::min<int64_t>(NR, n - p));
        if (cols == NR && alpha == 1.f) {  // a whole panel: transposed in blocks, no test per element
            const float* src = B + (j0 + p) * ldb + k0;
            switch (NR) {
                case 32: transpose_panel<32>(src, ldb, kc, Bp); continue;
                case 16: transpose_panel<16>(src, ldb, kc, Bp); continue;
                case 8: transpose_panel<8>(src, ldb, kc, Bp); continue;
                default: break;
            }
        }
        for (int j = 0; j < NR; ++j) {  // column j of the panel is a contiguous row of B
            const float* src = B + (j0 + p + j) * ldb + k0;
            for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = j < cols ? alpha * src[k] : 0.f;
        }
    }
}

// A grow-only, 64-byte-aligned buffer per thread and use (the packed A block and B block).
float* scratch(int which, int64_t floats) {
    struct Buffer {
        std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
        int64_t size = 0;
    };
    thread_local Buffer buffers[2];
    Buffer& b = buffers[which];
    if (b.size < floats) {
        const size_t bytes = (size_t(floats) * sizeof(float) + 63) / 64 * 64;
        b.size = 0;  // stays 0 if the allocation fails, so no later call gets the null pointer
        b.p.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
        if (!b.p) throw Error("sgemm: out of memory for a packing buffer of " + std::to_string(bytes) + " bytes");
        b.size = floats;
    }
    return b.p.get();
}

constexpr int64_t kNC = 768;  // columns of B per block: kc x 768 floats (774 KB at kc = 252) stay in a 1 MiB L2

// Packed A header: which kernel packed it, and for what M and K.
constexpr int kHeader = 4;
constexpr int32_t kMagic = 0x47454d4d;  // "GEMM"
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

// ---- the loops ----
namespace {

struct Problem {
    int64_t M, N, K;
    float alpha;
    Trans ta;
    const float* A;
    int64_t lda;
    const float* packed_a;  // or null: pack per block
    bool packed_transposed; // packed_a packs P (K x M) and op(A) = Pᵀ
    Trans tb;
    const float* B;
    int64_t ldb;
    float beta;
    float* C;
    int64_t ldc;
    bool upper;  // only tiles on or above the diagonal
};

// Where the micro-panels of A for rows [ic, ic + mc) and steps [pc, pc + kc) are: panel ir/MR starts
// at Ap + ir·row_step, and its groups of MR steps are group_stride apart (gemm_kernels.h).
struct APanels {
    const float* Ap;
    int64_t row_step, group_stride;
    bool transposed;
};

// Where B's micro-panel for columns jr.. is: Bp + jr·col_step, rows ldb apart.
struct BPanels {
    const float* Bp;
    int64_t col_step, ldb;
};

// C[ic.., jc..] (mc x nc) += A · B over kc, tile by tile.
void macro_kernel(const GemmKernel& kern, const Problem& pr, int64_t ic, int64_t mc, int64_t jc, int64_t nc, int64_t kc,
                  const APanels& A, const BPanels& B, bool accumulate) {
    for (int64_t jr = 0; jr < nc; jr += kern.nr) {
        const int n = int(std::min<int64_t>(kern.nr, nc - jr));
        for (int64_t ir = 0; ir < mc; ir += kern.mr) {
            if (pr.upper && ic + ir >= jc + jr + n) continue;  // wholly below the diagonal
            const int m = int(std::min<int64_t>(kern.mr, mc - ir));
            kern.micro(kc, A.Ap + ir * A.row_step, A.group_stride, A.transposed, B.Bp + jr * B.col_step, B.ldb,
                       pr.C + (ic + ir) * pr.ldc + jc + jr, pr.ldc, m, n, accumulate);
        }
    }
}

// pack_a's layout for an M x K matrix: K blocks of kc steps, block [p0, p0 + kcb) at p0·Mp (Mp = M rounded
// up to MR); in it, panel q (rows q·MR ..) at q·MR·kcb, and element (row q·MR + r, step p0 + s) at
// q·MR·kcb + s·MR + r.
APanels a_panels(const GemmKernel& kern, const Problem& pr, int64_t ic, int64_t mc, int64_t pc, int64_t kc) {
    const int MR = kern.mr;
    if (pr.packed_a && !pr.packed_transposed)  // rows ic.. of A are panels of the block at pc
        return {pr.packed_a + pc * round_up(pr.M, MR) + ic * kc, kc, int64_t(MR) * MR, false};
    if (pr.packed_a) {
        // op(A) = Pᵀ, P packed as K x M: our rows [ic, ic + mc) are P's block of steps starting at ic
        // (ic is a multiple of kern.kc, as mc == kc), our steps [pc, pc + kc) are P's panels pc/MR ..
        const int64_t block = std::min<int64_t>(kern.kc, pr.M - ic);  // that block's steps
        const float* base = pr.packed_a + ic * round_up(pr.K, MR);
        return {base + (pc / MR) * MR * block, MR, MR * block, true};
    }
    float* buf = scratch(0, round_up(mc, MR) * kc);
    pack_a_block(kern, pr.ta, pr.A, pr.lda, ic, mc, pc, kc, buf);
    return {buf, kc, int64_t(MR) * MR, false};
}

void scale_c(const Problem& pr) {
    for (int64_t i = 0; i < pr.M; ++i) {
        float* row = pr.C + i * pr.ldc;
        if (pr.beta == 0.f)
            std::fill(row, row + pr.N, 0.f);
        else
            for (int64_t j = 0; j < pr.N; ++j) row[j] *= pr.beta;
    }
}

// B's rows [pc, pc + kc), columns [jc, jc + nc): packed, or read in place when packing buys nothing. With
// a single block of rows of A (M <= mc) every B micro-panel is used by one block only, so packing would
// copy B once to read it once: the Winograd products of VGG's 64- to 256-channel layers, whose B (V, dM)
// is 2.25 times the activations; copying it was 10% of a stylize iteration at 256 px.
BPanels b_panels(const GemmKernel& kern, const Problem& pr, int64_t pc, int64_t kc, int64_t jc, int64_t nc) {
    if (pr.tb == Trans::No && pr.alpha == 1.f && pr.M <= kern.mc) return {pr.B + pc * pr.ldb + jc, 1, pr.ldb};
    float* Bp = scratch(1, round_up(nc, kern.nr) * kc);
    pack_b_block(kern, pr.tb, pr.B, pr.ldb, pc, kc, jc, nc, pr.alpha, Bp);
    return {Bp, kc, kern.nr};
}

void run(const GemmKernel& kern, Problem pr) {
    if (pr.M <= 0 || pr.N <= 0) return;
    if (pr.K <= 0 || pr.alpha == 0.f) return scale_c(pr);
    if (pr.beta != 0.f && pr.beta != 1.f) {
        scale_c(pr);
        pr.beta = 1.f;
    }
    for (int64_t jc = 0; jc < pr.N; jc += kNC) {
        const int64_t nc = std::min(kNC, pr.N - jc);
        for (int64_t pc = 0; pc < pr.K; pc += kern.kc) {
            const int64_t kc = std::min<int64_t>(kern.kc, pr.K - pc);
            const BPanels B = b_panels(kern, pr, pc, kc, jc, nc);
            const bool accumulate = pc > 0 || pr.beta == 1.f;
            for (int64_t ic = 0; ic < pr.M; ic += kern.mc) {
                const int64_t mc = std::min<int64_t>(kern.mc, pr.M - ic);
                if (pr.upper && ic >= jc + nc) break;  // every later row block lies below the diagonal
                macro_kernel(kern, pr, ic, mc, jc, nc, kc, a_panels(kern, pr, ic, mc, pc, kc), B, accumulate);
            }
        }
    }
}

void check_dims(const char* what, int64_t M, int64_t N, int64_t K) {
    if (M < 0 || N < 0 || K < 0)
        throw Error(std::string(what) + ": negative size (M " + std::to_string(M) + ", N " + std::to_string(N) + ", K " +
                    std::to_string(K) + ")");
}

}  // namespace

void sgemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    check_dims("sgemm", M, N, K);
    run(active_gemm_kernel(), {M, N, K, alpha, ta, A, lda, nullptr, false, tb, B, ldb, beta, C, ldc, false});
}

void sgemm_upper(Trans ta, Trans tb, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float beta, float* C, int64_t ldc) {
    check_dims("sgemm_upper", N, N, K);
    run(active_gemm_kernel(), {N, N, K, alpha, ta, A, lda, nullptr, false, tb, B, ldb, beta, C, ldc, true});
}

int64_t packed_a_floats(const float* packed) {
    int32_t header[kHeader];
    std::memcpy(header, packed, sizeof(header));
    const GemmKernel* kern = nullptr;
    for (const GemmKernel* k : kAll)
        if (k->id == header[1]) kern = k;
    if (header[0] != kMagic || !kern || header[2] < 0 || header[3] < 0)
        throw Error("packed_a_floats: not a pack_a packing");
    return kHeader + round_up(header[2], kern->mr) * header[3];
}

int64_t packed_a_floats(int64_t M, int64_t K) {
    check_dims("packed_a_floats", M, 0, K);
    return kHeader + round_up(M, active_gemm_kernel().mr) * K;
}

void pack_a(Trans ta, int64_t M, int64_t K, const float* A, int64_t lda, float* packed) {
    check_dims("pack_a", M, 0, K);
    const GemmKernel& kern = active_gemm_kernel();
    const int32_t header[kHeader] = {kMagic, int32_t(kern.id), int32_t(M), int32_t(K)};
    std::memcpy(packed, header, sizeof(header));
    float* body = packed + kHeader;
    const int64_t Mp = round_up(M, kern.mr);
    for (int64_t pc = 0; pc < K; pc += kern.kc) {
        const int64_t kc = std::min<int64_t>(kern.kc, K - pc);
        pack_a_block(kern, ta, A, lda, 0, M, pc, kc, body + pc * Mp);
    }
}

namespace {
// The packing's kernel and shape, checked against this call; returns its body.
const float* checked_packing(const char* what, const GemmKernel& kern, const float* packed_a, int64_t rows,
                             int64_t cols) {
    int32_t header[kHeader];
    std::memcpy(header, packed_a, sizeof(header));
    if (header[0] != kMagic || header[2] != rows || header[3] != cols)
        throw Error(std::string(what) + ": the packed A is not a pack_a packing of a " + std::to_string(rows) + " x " +
                    std::to_string(cols) + " matrix");
    if (header[1] != kern.id)
        throw Error(std::string(what) + ": A was packed for another GEMM micro-kernel than the active \"" + kern.name +
                    "\"; pack it again");
    return packed_a + kHeader;
}
}  // namespace

namespace {
// Both packed products: A is the packing's body, read as is (M x K packing) or transposed (K x M).
void run_packed(const char* what, bool transposed, int64_t M, int64_t N, int64_t K, float alpha, const float* packed_a,
                Trans tb, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    check_dims(what, M, N, K);
    const GemmKernel& kern = active_gemm_kernel();
    const float* body = transposed ? checked_packing(what, kern, packed_a, K, M) : checked_packing(what, kern, packed_a, M, K);
    run(kern, {M, N, K, alpha, Trans::No, nullptr, 0, body, transposed, tb, B, ldb, beta, C, ldc, false});
}
}  // namespace

void sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float* packed_a, Trans tb, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc) {
    run_packed("sgemm_packed", false, M, N, K, alpha, packed_a, tb, B, ldb, beta, C, ldc);
}

void sgemm_packed_t(int64_t M, int64_t N, int64_t K, float alpha, const float* packed_a, Trans tb, const float* B,
                    int64_t ldb, float beta, float* C, int64_t ldc) {
    run_packed("sgemm_packed_t", true, M, N, K, alpha, packed_a, tb, B, ldb, beta, C, ldc);
}

}  // namespace nst::cpu
