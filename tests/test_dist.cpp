// dist/ (issue #25): the shares of a batch, the one-process communicator, and train_style under mpirun
// (data-parallel: each rank its share of the batch, one all-reduce of the flat gradient per step).
//
// Why the MPI test compares Adam's moments and not the weights: Adam's first step moves every parameter
// by ±lr whatever its gradient's size, so a gradient that is zero up to rounding (the conv biases ahead of
// an instance norm, which the output does not depend on) takes a sign from its summation order, and two
// correct runs part by 2·lr there. The moments after step 1 are (1−β1)·g and (1−β2)·g² of the first
// batch's gradient: they hold the all-reduced gradient itself, which must equal one process's.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "base/subprocess.h"
#include "dist/communicator.h"
#include "media/image.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "weights/safetensors.h"

using namespace nst;
namespace fs = std::filesystem;

TEST_CASE("dist: shares of a batch cover it once, the first ranks taking the remainder", "[dist]") {
    for (int n : {1, 4, 7, 12})
        for (int size : {1, 2, 3, 5}) {
            int64_t next = 0;
            for (int r = 0; r < size; ++r) {
                const dist::Share s = dist::share_of(n, r, size);
                CHECK(s.begin == next);
                CHECK(s.end - s.begin == n / size + (r < n % size ? 1 : 0));
                next = s.end;
            }
            CHECK(next == n);
        }
    CHECK_THROWS(dist::share_of(4, 2, 2));
}

TEST_CASE("dist: a process not started by mpirun is one rank of one, and its collectives change nothing", "[dist]") {
    REQUIRE_FALSE(dist::launched_as_ranks());
    dist::Communicator& w = dist::world();
    CHECK(w.rank() == 0);
    CHECK(w.size() == 1);
    float v[3] = {1.5f, -2.f, 3.f};
    w.all_reduce_sum(v, 3);
    CHECK(v[1] == -2.f);
    CHECK(w.describe() == "1 process");
}

namespace {

std::vector<float> tensor_of(const std::string& file, const std::string& name) {
    const weights::WeightFile f = weights::read_safetensors(file);
    const auto it = f.tensors.find(name);
    REQUIRE(it != f.tensors.end());
    return it->second.values;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0, n = 0;
    for (size_t i = 0; i < a.size(); ++i) d += double(a[i] - b[i]) * (a[i] - b[i]), n += double(a[i]) * a[i];
    return std::sqrt(d / std::max(n, 1e-300));
}

}  // namespace

TEST_CASE("dist: mpirun -np 2 and 3 train_style sum one process's gradient, resume across rank counts, refuse too many ranks",
          "[dist][mpi]") {
    const std::string mpirun = find_program("mpirun");
    if (!dist::built_with_mpi() || mpirun.empty()) {
        std::cout << "NST_SKIPPED: " << (mpirun.empty() ? "no mpirun on PATH" : "this build has no MPI") << "\n";
        return;
    }
    // Every byte on the loopback; root in containers; more ranks than the machine's cores.
    setenv("OMPI_MCA_btl", "self,vader", 1);
    setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_btl_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);  // Open MPI keeps its memory until exit, by design
    const fs::path dir = fs::temp_directory_path() / ("nst_test_dist_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "photos");
    for (int i = 0; i < 5; ++i) {
        Image img;
        img.width = 24 + 5 * i, img.height = 20 + 3 * i;
        img.rgb.resize(size_t(img.width) * img.height * 3);
        for (size_t j = 0; j < img.rgb.size(); ++j) img.rgb[j] = float((j * (3 + 2 * i) + 29 * i) % 253) / 252.f;
        char name[16];  // (not "p" + std::to_string(i): GCC 12 warns on that concatenation, wrongly)
        std::snprintf(name, sizeof name, "p%d.png", i);
        save_image(img, (dir / "photos" / name).string());
    }
    const auto train = [&](int ranks, const std::string& name, std::vector<std::string> extra) {
        std::vector<std::string> argv;
        if (ranks > 0) argv = {mpirun, "-np", std::to_string(ranks)};
        for (const std::string& a :
             {std::string(NST_TRAIN_STYLE_BIN), std::string("--gpu"), std::string("-1"), std::string("--weights"),
              test::fixture("vgg_tiny.safetensors"), std::string("--style-image"), test::fixture("kind_rgb.jpg"),
              std::string("--content-dir"), (dir / "photos").string(), std::string("--batch-size"), std::string("4"),
              std::string("--image-size"), std::string("16"), std::string("--style-size"), std::string("32"),
              std::string("--widths"), std::string("4,4,8"), std::string("--print-iter"), std::string("1"),
              std::string("--output-model"), (dir / (name + ".safetensors")).string()})
            argv.push_back(a);
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_process(argv);
    };
    // Two steps each, checkpointed after the first: Adam's moments there hold the first batch's gradient.
    const auto ckpt = [&](const std::string& name) { return (dir / (name + ".ckpt")).string(); };
    const auto first_step = [&](int ranks, const std::string& name) {
        const ProcessResult r = train(ranks, name, {"--iterations", "2", "--save-iter", "1", "--checkpoint", ckpt(name)});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        return r;
    };
    first_step(0, "one");
    const ProcessResult two = first_step(2, "two");
    CHECK(two.out.find("MPI, 2 ranks") != std::string::npos);
    CHECK(two.out.find("trained 2 steps") != std::string::npos);
    CHECK(two.out.find("trained 2 steps") == two.out.rfind("trained 2 steps"));  // printed once: rank 0 speaks
    first_step(3, "three");  // shares 2, 1, 1 of the batch of 4: the weighting by share is tested
    for (const char* name : {"two", "three"}) {
        INFO(name);
        CHECK(rel_diff(tensor_of(ckpt(name), "optimizer.m"), tensor_of(ckpt("one"), "optimizer.m")) < 1e-5);
        CHECK(rel_diff(tensor_of(ckpt(name), "optimizer.v"), tensor_of(ckpt("one"), "optimizer.v")) < 1e-5);
    }
    // Rank 0 alone writes: one model and one checkpoint, whatever the number of ranks.
    CHECK(fs::exists(dir / "two.safetensors"));

    // The checkpoint of 2 ranks resumes on 3 (the fingerprint knows nothing of ranks).
    const ProcessResult resumed = train(3, "two", {"--iterations", "4", "--checkpoint", ckpt("two"), "--resume", ckpt("two")});
    INFO(resumed.out << resumed.err);
    CHECK(resumed.exit_code == 0);
    CHECK(resumed.out.find("resuming") != std::string::npos);
    CHECK(resumed.out.find("trained 4 steps") != std::string::npos);

    // More ranks than photos per step: refused on every rank, the job ends non-zero, nothing written.
    const ProcessResult many = train(5, "many", {"--iterations", "2"});
    CHECK(many.exit_code != 0);
    CHECK(many.err.find("--batch-size 4: fewer photos per step than processes (5)") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "many.safetensors"));
    fs::remove_all(dir);
}
