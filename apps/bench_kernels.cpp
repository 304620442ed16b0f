// bench_kernels: the kernel ladders of docs/kernels.md on every VGG-19 layer shape (conv forward and
// backward-data of the 3x3 layers, Gram of the style layers), each variant first checked, then timed.
//
//   bench_kernels [--height 512] [--width 512] [--reps 25] [--ops conv,gram] [--tf32] [--json FILE]
//
// Rows: the library variants first (variant 0 is the table's first library row: "0 cudnn", the
// heuristic's deterministic choice, which the library backend runs; further library rows are "0b ...",
// e.g. "0b cudnn_best", the fastest algorithm cudnnFind times), then the own rungs numbered 1, 2, ...
// Checks: each variant against the CPU reference on a small odd shape with the layer's channels, then
// against variant 0 (cuDNN / cuBLAS) on the full shape; a variant that fails is reported, not timed. A
// variant that throws gets a FAILED row with the message and the others still run; the exit status is
// 1 when any variant threw or failed its check. Tolerances: 1e-4, or 5e-3 where TF32 is involved (a *tf32
// rung, or a library row or variant 0 under --tf32).
// Timing: CUDA events around each call, 5 warm-up calls, the median of --reps, with the L2 cache flushed
// (a 256 MiB memset) before every timed call. Prints one markdown table per op: time, GFLOP/s, % of
// variant 0, % of the best library row of that layer (the fastest of cudnn and cudnn_best, say), and %
// of the card's peak, measured here as cuBLAS SGEMM on 8192² (fp32, and TF32 tensor cores for the *tf32
// rows and, under --tf32, the library rows). --tf32 also lets cuDNN/cuBLAS (the library rows) use TF32.
// --json FILE writes every row (op, layer, shape, variant, ms, GFLOP, GFLOP/s, the percentages, errors,
// whether it passed) with the card and the peaks, for scripts (scripts/gpu-verify.sh summarises it).
#include <cstdint>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "base/device.h"
#include "base/file_io.h"
#include "kernels/registry.h"

using namespace nst;

namespace {

// A device buffer for the benchmark's own use (allocated once per layer, outside timed loops). Copies go
// on the project stream, after the kernels that made or will read the data: the stream is non-blocking,
// so a plain cudaMemcpy (legacy default stream) would not wait for them.
struct DeviceBuffer {
    float* p = nullptr;
    size_t n = 0;
    explicit DeviceBuffer(size_t count) : n(count) { NST_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(float))); }
    ~DeviceBuffer() { cudaFree(p); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void upload(const std::vector<float>& h) {
        // From pageable memory: returns once h has been staged, so h may go away afterwards.
        NST_CUDA_CHECK(cudaMemcpyAsync(p, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice, cuda::stream()));
    }
    std::vector<float> download() const {
        std::vector<float> h(n);
        NST_CUDA_CHECK(cudaMemcpyAsync(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost, cuda::stream()));
        NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
        return h;
    }
};

std::vector<float> random_vector(size_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
        den += double(ref[i]) * ref[i];
    }
    return std::sqrt(num / std::max(den, 1e-300));
}

// 5e-3 where TF32 is involved: a TF32 rung, or a library row when --tf32 let the libraries use it.
bool uses_tf32(const std::string& name, bool library) { return name.find("tf32") != std::string::npos || (library && allow_tf32()); }
double tolerance(const std::string& name, bool library) { return uses_tf32(name, library) ? 5e-3 : 1e-4; }

// Median milliseconds of fn over reps calls, L2 flushed before each.
double time_ms(const std::function<void()>& fn, int reps, DeviceBuffer& flush) {
    cudaStream_t st = cuda::stream();
    for (int i = 0; i < 5; ++i) fn();
    cudaEvent_t a, b;
    NST_CUDA_CHECK(cudaEventCreate(&a));
    NST_CUDA_CHECK(cudaEventCreate(&b));
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
        NST_CUDA_CHECK(cudaMemsetAsync(flush.p, r & 0xff, flush.n * sizeof(float), st));
        NST_CUDA_CHECK(cudaEventRecord(a, st));
        fn();
        NST_CUDA_CHECK(cudaEventRecord(b, st));
        NST_CUDA_CHECK(cudaEventSynchronize(b));
        float t = 0;
        NST_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
        ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// The card's SGEMM rate (GFLOP/s) on n² (8192² by default), fp32 or TF32 tensor cores.
double peak_gflops(bool tf32, DeviceBuffer& flush, int n) {
    DeviceBuffer A(size_t(n) * n), B(size_t(n) * n), C(size_t(n) * n);
    // Non-zero operands (0x3c3c3c3c is about 0.0115): multiplying zeros draws less power and can run faster.
    NST_CUDA_CHECK(cudaMemsetAsync(A.p, 0x3c, A.n * sizeof(float), cuda::stream()));
    NST_CUDA_CHECK(cudaMemsetAsync(B.p, 0x3c, B.n * sizeof(float), cuda::stream()));
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) throw Error("bench_kernels: cublasCreate failed");
    cublasSetStream(h, cuda::stream());
    cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    const float one = 1.f, zero = 0.f;
    const double ms = time_ms([&] { cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A.p, n, B.p, n, &zero, C.p, n); },
                              5, flush);
    cublasDestroy(h);
    return 2.0 * n * double(n) * n / (ms * 1e6);
}

struct Row {
    std::string layer, variant;  // "conv1_1 512x341" (name and shape), "3 igemm" (label and name)
    double ms = 0, gflops = 0, err_ref = 0, err_lib = 0;
    bool ok = true;
    std::string error{};  // what the variant threw, if it did
    bool library = false, tf32 = false;
    double gflop = 0;  // the work of one call (for FLOP-weighted sums)
    double pct_v0 = 0, pct_best_lib = 0, pct_peak = 0;  // filled by print_table
};

// Runs one variant's checks and timing; if it throws, its rows say FAILED with the message instead of
// taking the other variants and the tables down with it.
template <class Fn> void run_variant(std::initializer_list<Row*> rows, Fn&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        std::string msg = e.what();
        std::replace(msg.begin(), msg.end(), '|', '/');  // keep the markdown row intact
        std::replace(msg.begin(), msg.end(), '\n', ' ');
        for (Row* r : rows) r->ok = false, r->error = msg;
    }
}

// Prints one op's table and fills each row's percentages (kept for --json). "% of best library" is
// against the fastest library row of the same layer that passed its check.
void print_table(const std::string& title, std::vector<Row>& rows, double peak32, double peak_tf32) {
    std::printf("\n### %s\n\n| layer | variant | ms | GFLOP/s | %% of variant 0 | %% of best library | %% of peak | err vs CPU ref | "
                "err vs variant 0 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
                title.c_str());
    std::map<std::string, double> best_lib;  // layer -> fastest library ms
    for (const Row& r : rows)
        if (r.library && r.ok && r.error.empty() && r.ms > 0)
            if (auto it = best_lib.find(r.layer); it == best_lib.end() || r.ms < it->second) best_lib[r.layer] = r.ms;
    double lib_ms = 0;
    for (Row& r : rows) {
        if (r.variant.rfind("0 ", 0) == 0) lib_ms = r.ok && r.error.empty() ? r.ms : 0;
        if (!r.error.empty()) {
            std::printf("| %s | %s | FAILED: %s | | | | | | |\n", r.layer.c_str(), r.variant.c_str(), r.error.c_str());
            continue;
        }
        if (!r.ok) {
            std::printf("| %s | %s | FAILED CHECK | | | | | %.1e | %.1e |\n", r.layer.c_str(), r.variant.c_str(), r.err_ref,
                        r.err_lib);
            continue;
        }
        const double best = best_lib.count(r.layer) ? best_lib[r.layer] : 0;
        r.pct_v0 = lib_ms > 0 ? 100.0 * lib_ms / r.ms : 0.0;
        r.pct_best_lib = best > 0 ? 100.0 * best / r.ms : 0.0;
        r.pct_peak = 100.0 * r.gflops / (r.tf32 ? peak_tf32 : peak32);
        const auto pct = [](double v) { return v > 0 ? std::to_string(int(std::lround(v))) + "%" : std::string("-"); };
        std::printf("| %s | %s | %.3f | %.0f | %s | %s | %.0f%% (%s) | %.1e | %.1e |\n", r.layer.c_str(), r.variant.c_str(),
                    r.ms, r.gflops, pct(r.pct_v0).c_str(), pct(r.pct_best_lib).c_str(), r.pct_peak, r.tf32 ? "TF32" : "fp32",
                    r.err_ref, r.err_lib);
    }
}

// A number, or null where there is none (a failed row's time): a script must never read a 0 as a time.
nlohmann::json number_or_null(double v, bool present = true) {
    return present && std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

struct Table {
    std::string op;  // "conv2d_forward", "conv2d_backward_data", "gram_forward"
    std::vector<Row> rows;
};

// --json: every row of every table, with the card and the peaks (written to a temporary file, then renamed).
void write_json(const std::string& path, const std::string& card, int sm, int width, int height, int reps, bool tf32,
                double p32, double ptf, const std::vector<Table>& tables) {
    nlohmann::json rows = nlohmann::json::array();
    for (const Table& t : tables)
        for (const Row& r : t.rows) {
            const bool timed = r.ok && r.error.empty() && r.ms > 0;
            const auto space = r.layer.find(' '), vspace = r.variant.find(' ');
            rows.push_back({{"op", t.op},
                            {"layer", r.layer.substr(0, space)},
                            {"shape", space == std::string::npos ? "" : r.layer.substr(space + 1)},
                            {"variant", vspace == std::string::npos ? r.variant : r.variant.substr(vspace + 1)},
                            {"label", r.variant},
                            {"library", r.library},
                            {"tf32", r.tf32},
                            {"ok", timed},
                            {"ms", number_or_null(r.ms, timed)},
                            {"gflop", number_or_null(r.gflop)},
                            {"gflops", number_or_null(r.gflops, timed)},
                            {"pct_of_variant0", number_or_null(r.pct_v0, timed && r.pct_v0 > 0)},
                            {"pct_of_best_library", number_or_null(r.pct_best_lib, timed && r.pct_best_lib > 0)},
                            {"pct_of_peak", number_or_null(r.pct_peak, timed)},
                            {"err_ref", number_or_null(r.err_ref, r.error.empty())},
                            {"err_lib", number_or_null(r.err_lib, r.error.empty())},
                            {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)}});
        }
    const nlohmann::json doc = {{"card", card},
                                {"sm", sm},
                                {"width", width},
                                {"height", height},
                                {"reps", reps},
                                {"library_tf32", tf32},
                                {"peak_fp32_gflops", number_or_null(p32)},
                                {"peak_tf32_gflops", number_or_null(ptf)},
                                {"rows", rows}};
    write_file_atomic(path, doc.dump(1) + "\n");
}

struct Layer {
    const char* name;
    int C, K, scale;  // scale: input side = image side / scale
};
const Layer kConvLayers[] = {{"conv1_1", 3, 64, 1},    {"conv1_2", 64, 64, 1},   {"conv2_1", 64, 128, 2},  {"conv2_2", 128, 128, 2},
                             {"conv3_1", 128, 256, 4}, {"conv3_2", 256, 256, 4}, {"conv4_1", 256, 512, 8}, {"conv4_2", 512, 512, 8},
                             {"conv5_1", 512, 512, 16}};
const Layer kGramLayers[] = {{"relu1_1", 64, 0, 1}, {"relu2_1", 128, 0, 2}, {"relu3_1", 256, 0, 4}, {"relu4_1", 512, 0, 8},
                             {"relu5_1", 512, 0, 16}};

// Orders a table library first ("0 cudnn", then "0b cudnn_best", ...), then the own variants numbered in
// table order.
template <class V> std::vector<std::pair<std::string, const V*>> ladder(std::span<const V> table) {
    std::vector<std::pair<std::string, const V*>> r;
    char lib = 'a';
    for (const auto& v : table)
        if (v.library) r.push_back({(lib == 'a' ? std::string("0 ") : std::string("0") + lib + " ") + v.name, &v}), ++lib;
    int i = 1;
    for (const auto& v : table)
        if (!v.library) r.push_back({std::to_string(i++) + " " + v.name, &v});
    return r;
}

void bench_conv(int H0, int W0, int reps, DeviceBuffer& flush, std::vector<Row>& fwd, std::vector<Row>& bwd) {
    const auto variants = ladder(conv2d_variants(DeviceKind::CUDA));
    for (const Layer& L : kConvLayers) {
        ConvShape s;
        s.N = 1; s.C = L.C; s.K = L.K; s.H = H0 / L.scale; s.W = W0 / L.scale; s.R = s.S = 3; s.pad_h = s.pad_w = 1;
        ConvShape small = s;
        small.H = 13; small.W = 11;
        const auto x = random_vector(size_t(s.x_size()), 1), w = random_vector(size_t(s.w_size()), 2);
        const auto dy = random_vector(size_t(s.y_size()), 3);
        const auto xs = random_vector(size_t(small.x_size()), 4), dys = random_vector(size_t(small.y_size()), 5);
        std::vector<float> ref_y(size_t(small.y_size())), ref_dx(size_t(small.x_size()));
        cpu::conv2d_forward<float>(xs.data(), w.data(), nullptr, ref_y.data(), small);
        cpu::conv2d_backward_data<float>(dys.data(), w.data(), ref_dx.data(), small);
        DeviceBuffer X(x.size()), Wt(w.size()), Y(size_t(s.y_size())), DY(dy.size()), DX(x.size());
        DeviceBuffer Xs(xs.size()), Ys(ref_y.size()), DYs(dys.size()), DXs(ref_dx.size());
        X.upload(x); Wt.upload(w); DY.upload(dy); Xs.upload(xs); DYs.upload(dys);
        std::vector<float> lib_y, lib_dx;
        const double flop = 2.0 * s.K * s.C * 9.0 * s.H * s.W;
        for (const auto& [label, v] : variants) {
            Row rf{std::string(L.name) + " " + std::to_string(s.H) + "x" + std::to_string(s.W), label};
            rf.library = v->library;
            rf.tf32 = uses_tf32(v->name, v->library);
            rf.gflop = flop / 1e9;
            Row rb = rf;
            run_variant({&rf, &rb}, [&] {
                v->forward(Xs.p, Wt.p, nullptr, Ys.p, small);
                v->backward_data(DYs.p, Wt.p, DXs.p, small);
                v->forward(X.p, Wt.p, nullptr, Y.p, s);
                v->backward_data(DY.p, Wt.p, DX.p, s);
                rf.err_ref = rel_err(Ys.download(), ref_y);
                rb.err_ref = rel_err(DXs.download(), ref_dx);
                const auto y = Y.download(), dxv = DX.download();
                if (lib_y.empty()) lib_y = y, lib_dx = dxv;  // the library comes first
                rf.err_lib = rel_err(y, lib_y);
                rb.err_lib = rel_err(dxv, lib_dx);
                // Against variant 0 the looser tolerance of the two applies (variant 0 may run in TF32).
                const double tol = std::max(tolerance(v->name, v->library), tolerance(variants.front().second->name, true));
                rf.ok = rf.err_ref < tol && rf.err_lib < tol;
                rb.ok = rb.err_ref < tol && rb.err_lib < tol;
                if (rf.ok) rf.ms = time_ms([&] { v->forward(X.p, Wt.p, nullptr, Y.p, s); }, reps, flush);
                if (rb.ok) rb.ms = time_ms([&] { v->backward_data(DY.p, Wt.p, DX.p, s); }, reps, flush);
                rf.gflops = rf.ok ? flop / (rf.ms * 1e6) : 0;
                rb.gflops = rb.ok ? flop / (rb.ms * 1e6) : 0;
            });
            fwd.push_back(rf);
            bwd.push_back(rb);
        }
    }
}

void bench_gram(int H0, int W0, int reps, DeviceBuffer& flush, std::vector<Row>& rows) {
    const auto variants = ladder(gram_variants(DeviceKind::CUDA));
    for (const Layer& L : kGramLayers) {
        GramShape s;
        s.N = 1; s.C = L.C; s.HW = int64_t(H0 / L.scale) * (W0 / L.scale);
        GramShape small = s;
        small.HW = 13 * 11;
        const auto f = random_vector(size_t(s.C * s.HW), 6), fs = random_vector(size_t(small.C * small.HW), 7);
        std::vector<float> ref(size_t(s.C) * s.C);
        cpu::gram_forward<float>(fs.data(), ref.data(), small);
        DeviceBuffer F(f.size()), G(size_t(s.C) * s.C), Fs(fs.size()), Gs(ref.size());
        F.upload(f); Fs.upload(fs);
        std::vector<float> lib;
        const double flop = 2.0 * s.C * double(s.C) * double(s.HW);  // a full GEMM's worth, for every variant
        for (const auto& [label, v] : variants) {
            Row r{std::string(L.name) + " C" + std::to_string(s.C) + " HW" + std::to_string(s.HW), label};
            r.library = v->library;
            r.tf32 = uses_tf32(v->name, v->library);
            r.gflop = flop / 1e9;
            run_variant({&r}, [&] {
                v->forward(Fs.p, Gs.p, small);
                v->forward(F.p, G.p, s);
                r.err_ref = rel_err(Gs.download(), ref);
                const auto g = G.download();
                if (lib.empty()) lib = g;
                r.err_lib = rel_err(g, lib);
                r.ok = r.err_ref < tolerance(v->name, v->library) &&
                       r.err_lib < std::max(tolerance(v->name, v->library), tolerance(variants.front().second->name, true));
                if (r.ok) r.ms = time_ms([&] { v->forward(F.p, G.p, s); }, reps, flush);
                r.gflops = r.ok ? flop / (r.ms * 1e6) : 0;
            });
            rows.push_back(r);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    int height = 512, width = 512, reps = 25;
    std::string ops = "conv,gram", json_path;
    bool tf32 = false;
    int peak_n = 8192;
    CLI::App app{"Kernel ladders against cuDNN/cuBLAS on the VGG-19 layer shapes"};
    app.add_option("--height", height, "image height (default 512)")->check(CLI::Range(16, 8192));
    app.add_option("--width", width, "image width (default 512)")->check(CLI::Range(16, 8192));
    app.add_option("--reps", reps, "timed calls per variant (median; default 25)")->check(CLI::Range(1, 10000));
    app.add_option("--ops", ops, "conv, gram or conv,gram");
    app.add_flag("--tf32", tf32, "let cuDNN/cuBLAS (variant 0) use TF32 tensor cores too");
    app.add_option("--peak-size", peak_n, "n of the n² cuBLAS SGEMM that measures the peak (default 8192; small "
                                          "only for a quick run, as on the CUDA-on-CPU layer)")
        ->check(CLI::Range(16, 16384));
    app.add_option("--json", json_path, "also write every row, the card and the peaks to this JSON file");
    CLI11_PARSE(app, argc, argv);
    try {
        if (!cuda_available()) {
            std::fprintf(stderr, "bench_kernels: no CUDA device (%s)\n", cuda_availability().reason.c_str());
            return 2;
        }
        set_allow_tf32(tf32);
        cudaDeviceProp prop{};
        NST_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        DeviceBuffer flush(size_t(64) << 20);  // 256 MiB: larger than any L2
        const double p32 = peak_gflops(false, flush, peak_n), ptf = peak_gflops(true, flush, peak_n);
        std::printf("card: %s (sm_%d%d), image %dx%d, median of %d, L2 flushed; variant 0 TF32 %s\n", prop.name, prop.major,
                    prop.minor, width, height, reps, tf32 ? "on" : "off");
        std::printf("peak (cuBLAS SGEMM %d^2): fp32 %.0f GFLOP/s, TF32 %.0f GFLOP/s\n", peak_n, p32, ptf);
        int failed = 0;
        const auto count_failed = [&](const std::vector<Row>& rows) {
            failed += int(std::count_if(rows.begin(), rows.end(), [](const Row& r) { return !r.ok; }));
        };
        std::vector<Table> tables;
        if (ops.find("conv") != std::string::npos) {
            Table fwd{"conv2d_forward", {}}, bwd{"conv2d_backward_data", {}};
            bench_conv(height, width, reps, flush, fwd.rows, bwd.rows);
            print_table("conv2d forward (3x3, stride 1, pad 1)", fwd.rows, p32, ptf);
            print_table("conv2d backward-data", bwd.rows, p32, ptf);
            count_failed(fwd.rows);
            count_failed(bwd.rows);
            tables.push_back(std::move(fwd));
            tables.push_back(std::move(bwd));
        }
        if (ops.find("gram") != std::string::npos) {
            Table g{"gram_forward", {}};
            bench_gram(height, width, reps, flush, g.rows);
            print_table("Gram forward (GFLOP/s counts 2·C²·HW for every variant)", g.rows, p32, ptf);
            count_failed(g.rows);
            tables.push_back(std::move(g));
        }
        if (!json_path.empty()) {
            write_json(json_path, prop.name, prop.major * 10 + prop.minor, width, height, reps, tf32, p32, ptf, tables);
            std::printf("\nwrote %s\n", json_path.c_str());
        }
        if (failed > 0) {
            std::fprintf(stderr, "bench_kernels: %d row(s) FAILED (threw or failed the check)\n", failed);
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_kernels: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
