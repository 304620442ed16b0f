// bench_dist: what one evaluation of `mpirun -np N stylize --tile-size T` sends between the ranks, timed
// on this machine's MPI (issue #25). Run under mpirun (one process times nothing: it has no one to talk to):
//   mpirun -np 4 build/bench_dist --image-size 2048
// Each row is one collective at the size stylize gives it for an image of --image-size px square, VGG-19's
// style layers relu1_1..relu5_1 (C = 64, 128, 256, 512, 512), and the median time of --repeats calls.
// The last lines add them into the traffic of one evaluation and one L-BFGS iteration (docs/distributed.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>

#include "dist/communicator.h"
#include "kernels/cpu/cpu_info.h"

namespace {

using Clock = std::chrono::steady_clock;

// The median seconds of `repeats` calls of f, each begun together (a barrier first).
template <class F> double median_seconds(nst::dist::Communicator& c, int repeats, F&& f) {
    std::vector<double> t;
    for (int i = 0; i < repeats; ++i) {
        c.barrier();
        const auto start = Clock::now();
        f();
        t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    int size = 2048, repeats = 11, history = 100;
    CLI::App app{"time the collectives of one tiled stylize evaluation under mpirun", "bench_dist"};
    app.add_option("--image-size", size, "the image's side in pixels (default 2048)");
    app.add_option("--repeats", repeats, "calls per row; the median is printed (default 11)");
    app.add_option("--lbfgs-num-correction", history, "L-BFGS's history (default 100): sums per iteration");
    CLI11_PARSE(app, argc, argv);
    nst::dist::Communicator& c = nst::dist::world();
    if (c.size() < 2) {
        std::fprintf(stderr, "bench_dist: run it under mpirun -np N (N >= 2): one process sends nothing\n");
        return 1;
    }
    const int64_t pixels = int64_t(size) * size, image = 3 * pixels;
    int64_t grams = 0;
    for (int64_t ch : {64, 128, 256, 512, 512}) grams += ch * ch;
    std::vector<float> buf(size_t(image) + 2, 1.f);
    double scalar = 1;
    struct Row {
        const char* what;
        int64_t bytes;
        double seconds;
    };
    std::vector<Row> rows;
    rows.push_back({"sum in rank order (1 double; L-BFGS's dots)", 8 * c.size(),
                    median_seconds(c, repeats * 10, [&] { scalar = nst::dist::sum_in_rank_order(c, scalar); })});
    rows.push_back({"all-reduce of the Gram sums (sum C^2 floats)", 4 * grams,
                    median_seconds(c, repeats, [&] { c.all_reduce_sum(buf.data(), grams); })});
    rows.push_back({"all-reduce of the gradient (3 H W + terms)", 4 * (image + 2),
                    median_seconds(c, repeats, [&] { c.all_reduce_sum(buf.data(), image + 2); })});
    rows.push_back({"all-gather of the image's shares (3 H W)", 4 * image,
                    median_seconds(c, repeats, [&] { c.all_gather(buf.data(), image); })});
    if (!c.is_root()) return 0;
    std::printf("bench_dist: %s; cpu: %s; isa: %s\n", c.describe().c_str(), nst::cpu::cpu_model_name().c_str(),
                nst::cpu::cpu_isa().c_str());
    std::printf("image %dx%d, L-BFGS history %d; median of %d calls\n\n", size, size, history, repeats);
    std::printf("| collective | MiB per call | ms | GB/s |\n|---|---:|---:|---:|\n");
    for (const Row& r : rows)
        std::printf("| %s | %.3f | %.3f | %.2f |\n", r.what, double(r.bytes) / (1 << 20), r.seconds * 1e3,
                    double(r.bytes) / r.seconds / 1e9);
    // One evaluation: one Gram all-reduce, one gradient all-reduce, one all-gather (and a broadcast of a
    // few terms). One L-BFGS iteration: 2 sums per stored pair and 3 more (|g|_1 or ys, yy), in rank order.
    const double eval_s = rows[1].seconds + rows[2].seconds + rows[3].seconds;
    const double iter_s = (2.0 * history + 3) * rows[0].seconds;
    std::printf("\nper evaluation: %.1f MiB of buffers summed or gathered, %.1f ms; per L-BFGS iteration (history full): %d sums, %.2f ms\n",
                double(rows[1].bytes + rows[2].bytes + rows[3].bytes) / (1 << 20), eval_s * 1e3, 2 * history + 3,
                iter_s * 1e3);
    return 0;
}
