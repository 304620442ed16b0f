// dist/ (issue #25): the shares of a batch, the one-process communicator, train_style under mpirun
// (data-parallel: each rank its share of the batch, one all-reduce of the flat gradient per step), and
// stylize --model / stylize_video --model sharing a folder's photos or a clip's frames out by turns.
//
// Why the MPI test compares Adam's moments and not the weights: Adam's first step moves every parameter
// by ±lr whatever its gradient's size, so a gradient that is zero up to rounding (the conv biases ahead of
// an instance norm, which the output does not depend on) takes a sign from its summation order, and two
// correct runs part by 2·lr there. The moments after step 1 are (1−β1)·g and (1−β2)·g² of the first
// batch's gradient: they hold the all-reduced gradient itself, which must equal one process's.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "base/subprocess.h"
#include "dist/communicator.h"
#include "optim/optim.h"
#include "stylize/checkpoint.h"
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
// Rank `r` of `n` for code that asks only who it is (a checkpoint read as a share); its collectives are
// not for calling.
struct RankOf final : dist::Communicator {
    int r, n;
    RankOf(int r, int n) : r(r), n(n) {}
    int rank() const override { return r; }
    int size() const override { return n; }
    void all_reduce_sum(float*, int64_t) override { FAIL("no collective expected"); }
    void all_reduce_sum(double*, int64_t) override { FAIL("no collective expected"); }
    void broadcast(void*, size_t, int) override { FAIL("no collective expected"); }
    void all_gather(float*, int64_t) override { FAIL("no collective expected"); }
    void barrier() override { FAIL("no collective expected"); }
    [[noreturn]] void abort(int) override { std::abort(); }
    std::string describe() const override { return "test ranks"; }
};
}  // namespace

TEST_CASE("dist: a checkpoint is read as each rank's share of the optimiser's vectors, the image and scalars whole", "[dist]") {
    // An L-BFGS state of 11 values (history 3, 5 steps: the history full) written by one process.
    const int64_t n = 11;
    auto opt = make_lbfgs(n, Device::cpu(), {3, 1.0, false, false, {}});
    Tensor x = Tensor::uniform({n}, -1, 1, 5);
    const Objective_fn f = [](const Tensor& at, Tensor& g) {  // Σ (i+1) x_i² / 2
        std::vector<float> gv(size_t(at.numel()));
        double v = 0;
        for (int64_t i = 0; i < at.numel(); ++i) {
            const float xi = at.data<float>()[i];
            gv[size_t(i)] = float(i + 1) * xi, v += 0.5 * double(i + 1) * xi * xi;
        }
        g = Tensor::from_vector(gv, {at.numel()});
        return Tensor::full({}, v);
    };
    opt->begin(x, f);
    for (int k = 1; k <= 5; ++k) opt->step(x, f, true);
    const fs::path dir = fs::temp_directory_path() / ("nst_test_ckpt_share_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "run.ckpt.safetensors").string();
    const RunFingerprint fp{{"--content-image", "xxh3:0123"}};
    StylizeOptions o;
    o.num_iterations = 10;
    save_checkpoint(path, fp, 0, 6, x, *opt);

    const Checkpoint whole = load_checkpoint(path, fp, o, Device::cpu());
    CHECK(whole.x.to_vector<float>() == x.to_vector<float>());
    CHECK(whole.iteration == 6);
    for (int rank = 0; rank < 3; ++rank) {
        INFO("rank " << rank << " of 3");
        RankOf ranks(rank, 3);
        const Checkpoint part = load_checkpoint(path, fp, o, Device::cpu(), &ranks);
        const dist::Share s = dist::share_of(n, rank, 3);
        CHECK(part.x.to_vector<float>() == x.to_vector<float>());  // every rank needs the whole image
        REQUIRE(part.state.tensors.size() == whole.state.tensors.size());
        int shares = 0;
        for (const auto& [key, t] : whole.state.tensors) {
            INFO(key);
            const Tensor& p = part.state.tensors.at(key);
            const std::vector<float> w = t.to_vector<float>();
            if (t.numel() == n) {
                ++shares;
                CHECK(p.to_vector<float>() == std::vector<float>(w.begin() + s.begin, w.begin() + s.end));
            } else {
                CHECK(p.to_vector<float>() == w);
            }
        }
        CHECK(shares == 3 + 2 * 3);  // g, g_old, dir and the 3 pairs
    }
    fs::remove_all(dir);
}

TEST_CASE("dist: one GPU per rank of a machine, from the launcher's local rank, round the visible devices", "[dist]") {
    CHECK(dist::device_for_rank(0, 0, 4) == 0);
    CHECK(dist::device_for_rank(0, 3, 4) == 3);
    CHECK(dist::device_for_rank(1, 3, 4) == 0);  // --gpu 1: local rank 0 on device 1, rank 3 wraps round
    CHECK(dist::device_for_rank(0, 5, 2) == 1);  // more ranks than devices: they share
    CHECK(dist::device_for_rank(0, 2, 1) == 0);  // srun --gpus-per-task=1: each rank sees its own as device 0
    CHECK(dist::device_for_rank(2, 1, 0) == 2);  // no device: --gpu as given, opening it says why
    const char* names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (const char* n : names) unsetenv(n);
    CHECK(dist::local_rank() == 0);
    setenv("SLURM_LOCALID", "2", 1);
    CHECK(dist::local_rank() == 2);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1);  // Open MPI's, where both are set (mpirun inside sbatch)
    CHECK(dist::local_rank() == 5);
    for (const char* n : names) unsetenv(n);
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

// mpirun's path with the environment set for the tests, or "" (and a skip message) without MPI.
std::string mpirun_or_skip() {
    const std::string mpirun = find_program("mpirun");
    if (!dist::built_with_mpi() || mpirun.empty()) {
        std::cout << "NST_SKIPPED: " << (mpirun.empty() ? "no mpirun on PATH" : "this build has no MPI") << "\n";
        return "";
    }
    // Every byte on the loopback; root in containers; more ranks than the machine's cores.
    setenv("OMPI_MCA_btl", "self,vader", 1);
    setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_btl_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);  // Open MPI keeps its memory until exit, by design
    return mpirun;
}

// n photos p0.png.. in `folder` (made): of growing sizes, or all 32x24 (a clip's frames).
void write_photos(const fs::path& folder, int n, bool same_size) {
    fs::create_directories(folder);
    for (int i = 0; i < n; ++i) {
        Image img;
        img.width = same_size ? 32 : 24 + 5 * i, img.height = same_size ? 24 : 20 + 3 * i;
        img.rgb.resize(size_t(img.width) * img.height * 3);
        for (size_t j = 0; j < img.rgb.size(); ++j) img.rgb[j] = float((j * (3 + 2 * i) + 29 * i) % 253) / 252.f;
        char name[16];  // (not "p" + std::to_string(i): GCC 12 warns on that concatenation, wrongly)
        std::snprintf(name, sizeof name, "p%d.png", i);
        save_image(img, (folder / name).string());
    }
}

// argv run as it is (ranks 0) or under `mpirun -np ranks`.
ProcessResult run_ranks(const std::string& mpirun, int ranks, const std::vector<std::string>& argv) {
    std::vector<std::string> all;
    if (ranks > 0) all = {mpirun, "-np", std::to_string(ranks)};
    all.insert(all.end(), argv.begin(), argv.end());
    return run_process(all);
}

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("dist: mpirun -np 2 and 3 stylize --model over a folder and stylize_video --model over a clip write one "
          "process's pictures, rank 0 printing, and refuse what one process must do",
          "[dist][mpi]") {
    const std::string mpirun = mpirun_or_skip();
    if (mpirun.empty()) return;
    const fs::path dir = fs::temp_directory_path() / ("nst_test_dist_model_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    write_photos(dir / "photos", 5, false);
    write_photos(dir / "clip", 7, true);
    const std::string model = test::fixture("transformer_tiny.safetensors");
    const auto run = [&](int ranks, std::vector<std::string> args) {
        for (const char* a : {"--model", "", "--gpu", "-1"}) args.push_back(*a ? a : model.c_str());
        return run_ranks(mpirun, ranks, args);
    };
    for (int ranks : {0, 2, 3}) {  // (0: no mpirun, the reference)
        const std::string n = std::to_string(ranks);
        INFO(ranks << " ranks");
        const ProcessResult p = run(ranks, {NST_STYLIZE_BIN, "--content-image", (dir / "photos").string(), "--output-image",
                                            (dir / ("pictures" + n)).string()});
        INFO(p.out << p.err);
        REQUIRE(p.exit_code == 0);
        CHECK(count_of(p.out, "wrote ") == 1);  // rank 0 speaks for the job
        CHECK(count_of(p.out, ".png -> ") == 5);  // each photo once
        for (int i = 0; i < 5; ++i) {
            char name[16];  // (snprintf: see write_photos)
            std::snprintf(name, sizeof name, "p%d.png", i);
            if (ranks > 0) CHECK(bytes_of(dir / ("pictures" + n) / name) == bytes_of(dir / "pictures0" / name));
        }
        if (ranks > 0) CHECK(p.out.find("rank " + std::to_string(ranks - 1) + ")") != std::string::npos);  // every rank painted
        const ProcessResult v = run(ranks, {NST_STYLIZE_VIDEO_BIN, "--content-video", (dir / "clip").string(), "--output-frames",
                                            (dir / ("frames" + n)).string()});
        INFO(v.out << v.err);
        REQUIRE(v.exit_code == 0);
        CHECK(count_of(v.out, "stylized 7 frames in") == 1);
        for (int t = 1; t <= 7; ++t) {
            char name[32];
            std::snprintf(name, sizeof name, "frame_%05d.png", t);
            REQUIRE(fs::exists(dir / ("frames" + n) / name));
            if (ranks > 0) CHECK(bytes_of(dir / ("frames" + n) / name) == bytes_of(dir / "frames0" / name));
        }
    }
    // What one process must do is refused, once, by rank 0, and the job ends non-zero with nothing written.
    const ProcessResult one = run(2, {NST_STYLIZE_BIN, "--content-image", (dir / "photos" / "p1.png").string(), "--output-image",
                                      (dir / "one.png").string()});
    CHECK(one.exit_code != 0);
    CHECK(count_of(one.err, "one photo is painted by one process") == 1);
    CHECK_FALSE(fs::exists(dir / "one.png"));
    const ProcessResult steady = run(3, {NST_STYLIZE_VIDEO_BIN, "--content-video", (dir / "clip").string(), "--output-frames",
                                         (dir / "steady").string(), "--steady", "0.5"});
    CHECK(steady.exit_code != 0);
    CHECK(count_of(steady.err, "--steady blends each picture with the one before") == 1);
    CHECK_FALSE(fs::exists(dir / "steady"));
    // The frames folder is checked by rank 0 alone: the input folder is refused once.
    const ProcessResult over = run(2, {NST_STYLIZE_VIDEO_BIN, "--content-video", (dir / "clip").string(), "--output-frames",
                                       (dir / "clip").string()});
    CHECK(over.exit_code != 0);
    CHECK(count_of(over.err, "the input frames would be overwritten") == 1);
    fs::remove_all(dir);
}

TEST_CASE("dist: mpirun -np 2 and 3 train_style sum one process's gradient, resume across rank counts, refuse too many ranks",
          "[dist][mpi]") {
    const std::string mpirun = mpirun_or_skip();
    if (mpirun.empty()) return;
    const fs::path dir = fs::temp_directory_path() / ("nst_test_dist_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    write_photos(dir / "photos", 5, false);
    const auto train = [&](int ranks, const std::string& name, std::vector<std::string> extra) {
        std::vector<std::string> argv;
        for (const std::string& a :
             {std::string(NST_TRAIN_STYLE_BIN), std::string("--gpu"), std::string("-1"), std::string("--weights"),
              test::fixture("vgg_tiny.safetensors"), std::string("--style-image"), test::fixture("kind_rgb.jpg"),
              std::string("--content-dir"), (dir / "photos").string(), std::string("--batch-size"), std::string("4"),
              std::string("--image-size"), std::string("16"), std::string("--style-size"), std::string("32"),
              std::string("--widths"), std::string("4,4,8"), std::string("--print-iter"), std::string("1"),
              std::string("--output-model"), (dir / (name + ".safetensors")).string()})
            argv.push_back(a);
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_ranks(mpirun, ranks, argv);
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

namespace {

// The number after "final_loss": in a --log-json file.
double final_loss_in(const fs::path& json) {
    const std::string text = bytes_of(json);
    const size_t at = text.find("\"final_loss\":");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + 13));
}

// The largest difference of two 8-bit pictures of one size, in levels.
int max_level_difference(const fs::path& a, const fs::path& b) {
    const Image x = load_image(a.string()), y = load_image(b.string());
    REQUIRE(x.rgb.size() == y.rgb.size());
    float worst = 0;
    for (size_t i = 0; i < x.rgb.size(); ++i) worst = std::max(worst, std::abs(x.rgb[i] - y.rgb[i]));
    return int(std::lround(worst * 255));
}

}  // namespace

// Ten iterations: L-BFGS amplifies rounding (its fixed step jumps the loss up at some iterations), so
// two correct runs that sum in different orders part slowly; at ten they agree to about 1e-7.
TEST_CASE("dist: mpirun -np 2 and 3 stylize --tile-size share one image's tiles and L-BFGS state: one process's loss "
          "and picture, checkpoints resume across rank counts, too many ranks refused",
          "[dist][mpi]") {
    const std::string mpirun = mpirun_or_skip();
    if (mpirun.empty()) return;
    const fs::path dir = fs::temp_directory_path() / ("nst_test_dist_tiles_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    write_photos(dir / "content", 1, false);
    Image photo = load_image((dir / "content" / "p0.png").string());
    save_image(resize(photo, 160, 120), (dir / "content.png").string());
    // stylize and the flags every run here has; then a run's own.
    const std::vector<std::string> common{NST_STYLIZE_BIN, "--style-image", test::fixture("kind_rgb.jpg"), "--weights",
                                          test::fixture("vgg_tiny.safetensors"), "--gpu", "-1", "--image-size", "160",
                                          "--print-iter", "0", "--save-iter", "0"};
    const auto run = [&](int ranks, const std::string& name, std::vector<std::string> extra) {
        std::vector<std::string> argv = common;
        for (const std::string& a : {std::string("--content-image"), (dir / "content.png").string(), std::string("--output-image"),
                                     (dir / (name + ".png")).string(), std::string("--log-json"), (dir / (name + ".json")).string()})
            argv.push_back(a);
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_ranks(mpirun, ranks, argv);
    };
    const std::vector<std::string> tiles{"--tile-size", "64", "--num-iterations", "10"};  // 3 x 2 tiles of 64 px
    for (int ranks : {0, 1, 2, 3}) {  // (0: no mpirun, the reference)
        INFO(ranks << " ranks");
        const std::string name = "np" + std::to_string(ranks);
        const ProcessResult p = run(ranks, name, tiles);
        INFO(p.out << p.err);
        REQUIRE(p.exit_code == 0);
        CHECK(count_of(p.out, "wrote ") == 1);  // rank 0 speaks for the job
        if (ranks == 0) continue;
        if (ranks > 1) CHECK(count_of(p.out, std::to_string(ranks) + " ranks") == 1);
        if (ranks > 1) CHECK(count_of(p.out, "peak memory per rank (MiB):") == 1);
        CHECK(std::abs(final_loss_in(dir / (name + ".json")) - final_loss_in(dir / "np0.json")) <=
              1e-5 * final_loss_in(dir / "np0.json"));
        CHECK(max_level_difference(dir / (name + ".png"), dir / "np0.png") <= 2);
    }
    // A checkpoint holds the whole state whatever wrote it: 3 ranks' resumes on one process, and one
    // process's on 2 ranks; both end where 10 iterations on one process do.
    const auto ckpt = [&](const std::string& name) { return (dir / (name + ".ckpt")).string(); };
    for (auto [writer, reader] : {std::pair{3, 0}, std::pair{0, 2}}) {
        INFO(writer << " ranks write, " << reader << " resume");
        const std::string name = "ckpt" + std::to_string(writer);
        const ProcessResult w = run(writer, name, {"--tile-size", "64", "--num-iterations", "6", "--keep-checkpoint",
                                                   "--checkpoint", ckpt(name)});
        INFO(w.out << w.err);
        REQUIRE(w.exit_code == 0);
        REQUIRE(fs::exists(ckpt(name)));
        const ProcessResult r = run(reader, name, {"--tile-size", "64", "--num-iterations", "10", "--checkpoint", ckpt(name),
                                                   "--resume", ckpt(name)});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(std::abs(final_loss_in(dir / (name + ".json")) - final_loss_in(dir / "np0.json")) <=
              1e-5 * final_loss_in(dir / "np0.json"));
        CHECK(max_level_difference(dir / (name + ".png"), dir / "np0.png") <= 2);
    }
    // Refused once, by rank 0, with nothing written: no tiles to share, fewer tiles than ranks.
    const ProcessResult untiled = run(2, "untiled", {"--num-iterations", "2"});
    CHECK(untiled.exit_code != 0);
    CHECK(count_of(untiled.err, "give --tile-size") == 1);
    const ProcessResult few = run(3, "few", {"--tile-size", "128", "--num-iterations", "2"});  // 2 x 1 tiles
    CHECK(few.exit_code != 0);
    CHECK(count_of(few.err, "makes 2 tile(s) of the 160x120 image, fewer than the 3 ranks") == 1);
    CHECK_FALSE(fs::exists(dir / "untiled.png"));
    CHECK_FALSE(fs::exists(dir / "few.png"));
    // Ranks that read different inputs (here: two programs of one job, MPMD, each its own photo, as two
    // machines without a shared folder would) are refused before any work; so are ranks that do not all
    // find the checkpoint (rank 0 would resume, rank 1 start afresh).
    save_image(resize(photo, 120, 160), (dir / "other.png").string());
    const auto mpmd = [&](const std::vector<std::vector<std::string>>& each) {
        std::vector<std::string> argv{mpirun};
        for (const std::vector<std::string>& extra : each) {
            if (argv.size() > 1) argv.push_back(":");
            argv.insert(argv.end(), {"-np", "1"});
            argv.insert(argv.end(), common.begin(), common.end());
            argv.insert(argv.end(), {"--tile-size", "64", "--output-image", (dir / "differ.png").string()});
            argv.insert(argv.end(), extra.begin(), extra.end());
        }
        return run_process(argv);
    };
    const std::string content = (dir / "content.png").string();
    const ProcessResult differ = mpmd({{"--content-image", content}, {"--content-image", (dir / "other.png").string()}});
    INFO(differ.out << differ.err);
    CHECK(differ.exit_code != 0);
    CHECK(count_of(differ.err, "the ranks read different inputs or options") == 1);
    CHECK_FALSE(fs::exists(dir / "differ.png"));
    const ProcessResult kept = run(0, "kept", {"--tile-size", "64", "--num-iterations", "3", "--keep-checkpoint",
                                               "--checkpoint", ckpt("kept")});
    REQUIRE(kept.exit_code == 0);
    const ProcessResult unseen = mpmd({{"--content-image", content, "--checkpoint", ckpt("kept"), "--num-iterations", "5"},
                                       {"--content-image", content, "--checkpoint", ckpt("absent"), "--num-iterations", "5"}});
    INFO(unseen.out << unseen.err);
    CHECK(unseen.exit_code != 0);
    CHECK(count_of(unseen.err, "the ranks do not all see the same checkpoint") == 1);
    CHECK(count_of(unseen.err, "rank 0 resumes at iteration 3 of scale 160") == 1);
    CHECK_FALSE(fs::exists(dir / "differ.png"));
    fs::remove_all(dir);
}
