// Style transfer: optimizers on known minima, colour transforms, the objective against PyTorch,
// end-to-end runs (loss falls, checkpoint/resume reproduces a run), and every bad input of stylize.
#include <cstdint>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file_io.h"
#include "core/allocator.h"
#include "core/autograd.h"
#include "media/color.h"
#include "media/image.h"
#include "nst/objective.h"
#include "nst/tiled_objective.h"
#include "optim/optim.h"
#include "stylize/neural_style_flags.h"
#include "stylize/stylize.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

using namespace nst;
namespace fs = std::filesystem;

namespace {

// f(x) = Σ a_i (x_i − c_i)² / 2: minimum at c.
struct Quadratic {
    std::vector<float> a, c;
    Tensor operator()(const Tensor& x, Tensor& g) const {
        const auto v = x.to_vector<float>();
        std::vector<float> gv(v.size());
        double f = 0;
        for (size_t i = 0; i < v.size(); ++i) {
            f += 0.5 * a[i] * (v[i] - c[i]) * (v[i] - c[i]);
            gv[i] = a[i] * (v[i] - c[i]);
        }
        g.copy_(Tensor::from_vector(gv, g.shape()).to(g.device()));
        return Tensor::scalar(f, DType::F32, x.device());
    }
};

// Rosenbrock: (1 − x)² + 100 (y − x²)², minimum at (1, 1).
Tensor rosenbrock(const Tensor& x, Tensor& g) {
    const auto v = x.to_vector<float>();
    const double a = v[0], b = v[1];
    const double f = (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
    g.copy_(Tensor::from_vector(std::vector<float>{float(-2 * (1 - a) - 400 * a * (b - a * a)), float(200 * (b - a * a))}, {2}));
    return Tensor::scalar(f);
}

void run(Optimizer& opt, Tensor& x, const Objective_fn& f, int iterations) {
    opt.begin(x, f);
    for (int k = 1; k <= iterations; ++k) opt.step(x, f, k < iterations);
}

using test::TempDir;

// Random smooth-ish test images (a colour gradient plus noise), written as PNGs.
void write_test_image(const std::string& path, int w, int h, uint64_t seed) {
    Tensor t = Tensor::uniform({1, 3, h, w}, 0, 1, seed);
    float* p = t.data<float>();
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < h; ++i)
            for (int j = 0; j < w; ++j) {
                float& v = p[(c * h + i) * w + j];
                v = 0.5f * v + 0.5f * float((i * (c + 1) + j * (3 - c)) % 37) / 37.f;
            }
    save_image(tensor_to_image(t), path);
}

StylizeOptions tiny_options(const TempDir& d) {
    write_test_image(d / "content.png", 80, 60, 1);
    write_test_image(d / "style.png", 70, 70, 2);
    StylizeOptions o;
    o.content_image = d / "content.png";
    o.style_images = {d / "style.png"};
    o.weights = test::fixture("vgg_tiny.safetensors");
    o.image_size = 64;
    o.gpu = -1;
    o.num_iterations = 40;
    o.print_iter = 0;
    o.save_iter = 0;
    o.output_image = d / "out.png";
    return o;
}

template <class F> void expect_error(F&& f, const std::string& fragment) {
    try {
        f();
    } catch (const Error& e) {
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
        return;
    }
    FAIL("expected an error containing '" << fragment << "'");
}

}  // namespace

TEST_CASE("L-BFGS (fixed step, as neural-style) reaches the minimum of an ill-conditioned quadratic", "[optim]") {
    Quadratic q{{1, 10, 100, 0.5f, 3}, {1, -2, 0.5f, 3, -1}};
    Tensor x = Tensor::zeros({5});
    auto opt = make_lbfgs(5, Device::cpu(), {10, 1.0, false, false, {}});
    run(*opt, x, q, 40);
    const auto v = x.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(q.c[i]).margin(1e-4));
    CHECK(opt->evaluations() == 40);
}

TEST_CASE("L-BFGS with a strong-Wolfe line search solves Rosenbrock", "[optim]") {
    Tensor x = Tensor::from_vector(std::vector<float>{-1.2f, 1.f}, {2});
    auto opt = make_lbfgs(2, Device::cpu(), {10, 1.0, true, false, {}});
    run(*opt, x, rosenbrock, 100);
    const auto v = x.to_vector<float>();
    CHECK(v[0] == Approx(1).margin(1e-3));
    CHECK(v[1] == Approx(1).margin(2e-3));
}

TEST_CASE("Adam reaches the minima of a quadratic and of Rosenbrock", "[optim]") {
    Quadratic q{{1, 4, 0.25f}, {2, -1, 0.5f}};
    Tensor x = Tensor::zeros({3});
    auto opt = make_adam(3, Device::cpu(), {0.05});
    run(*opt, x, q, 2000);
    const auto v = x.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(q.c[i]).margin(1e-2));
    Tensor r = Tensor::from_vector(std::vector<float>{-1.2f, 1.f}, {2});
    auto adam = make_adam(2, Device::cpu(), {0.02});
    run(*adam, r, rosenbrock, 20000);
    const auto w = r.to_vector<float>();
    CHECK(w[0] == Approx(1).margin(0.02));
    CHECK(w[1] == Approx(1).margin(0.04));
}

TEST_CASE("optimizer state round-trips: save, load, continue equals an uninterrupted run", "[optim]") {
    Quadratic q{{1, 10, 100}, {1, -2, 0.5f}};
    for (const char* kind : {"lbfgs", "adam"}) {
        INFO(kind);
        auto make = [&] { return std::string(kind) == "lbfgs" ? make_lbfgs(3, Device::cpu(), {4, 1.0, false, false, {}}) : make_adam(3, Device::cpu(), {0.1}); };
        Tensor a = Tensor::zeros({3});
        auto full = make();
        run(*full, a, q, 12);
        // Saved after 3 steps (2 of 4 history pairs filled: the rest never written) and after 6 (wrapped).
        for (int at : {3, 6}) {
            INFO("saved after step " << at);
            auto first = make();
            Tensor b = Tensor::zeros({3});
            first->begin(b, q);
            for (int k = 1; k <= at; ++k) first->step(b, q, true);
            const OptimizerState st = first->save();
            const Tensor saved = b.clone();
            auto second = make();
            second->load(st);
            Tensor c = saved.clone();
            for (int k = at + 1; k <= 12; ++k) second->step(c, q, k < 12);
            CHECK(c.to_vector<float>() == a.to_vector<float>());
            if (std::string(kind) == "lbfgs") {  // a pair count that does not fit the iteration count is refused
                OptimizerState bad = st;
                bad.numbers["pairs"] = st.numbers.at("pairs") - 1;
                CHECK_THROWS_WITH(make()->load(bad), Catch::Contains("pairs after"));
            }
        }
    }
}

namespace {
// This process's resident memory now, from /proc/self/statm (pages).
double resident_mib() {
    std::ifstream statm("/proc/self/statm");
    long size = 0, resident = 0;
    statm >> size >> resident;
    return double(resident) * double(::sysconf(_SC_PAGESIZE)) / double(1 << 20);
}
}  // namespace

TEST_CASE("L-BFGS takes its history's memory as it fills, or all of it at the start with reserve, and steps alike", "[optim]") {
    const int64_t n = int64_t(1) << 20;  // 4 MiB a vector: 8 pairs are 64 MiB
    const double pairs_mib = 2 * 8 * 4.0;
    for (bool reserve : {false, true}) {
        INFO("reserve " << reserve);
        cpu_empty_cache();  // no block of the last round (resident or not) handed out again
        const double before = resident_mib();
        auto opt = make_lbfgs(n, Device::cpu(), {8, 1.0, false, reserve, {}});
        const double grown = resident_mib() - before;
        if (reserve) CHECK(grown > 0.9 * pairs_mib);
        else CHECK(grown < 0.5 * pairs_mib);
    }
    Quadratic q{{1, 10, 100, 3, 0.5f}, {1, -2, 0.5f, 4, -1}};
    Tensor a = Tensor::zeros({5}), b = Tensor::zeros({5});
    auto lazy = make_lbfgs(5, Device::cpu(), {3, 1.0, false, false, {}}), reserved = make_lbfgs(5, Device::cpu(), {3, 1.0, false, true, {}});
    run(*lazy, a, q, 9);
    run(*reserved, b, q, 9);
    CHECK(a.to_vector<float>() == b.to_vector<float>());
}

TEST_CASE("a freed host block is reused for requests of up to its size and down to half of it", "[memory]") {
    cpu_empty_cache();
    { Tensor big = Tensor::empty({int64_t(2) << 20}); }  // 8 MiB, cached when freed
    CHECK(cpu_memory_stats().bytes_cached == size_t(8) << 20);
    {
        Tensor quarter = Tensor::empty({int64_t(1) << 19});  // 2 MiB: under half, a block of its own
        CHECK(cpu_memory_stats().bytes_cached == size_t(8) << 20);
        Tensor smaller = Tensor::empty({int64_t(3) << 19});  // 6 MiB: takes the 8 MiB block
        CHECK(cpu_memory_stats().bytes_cached == 0);
        smaller.fill_(1.f);  // all of it is usable (ASan would see a write past the block)
    }
    CHECK(cpu_memory_stats().bytes_cached == (size_t(8) << 20) + (size_t(2) << 20));  // each back at its own size
    cpu_empty_cache();
}

TEST_CASE("freed host blocks stay cached for reuse until cpu_empty_cache gives them back", "[memory]") {
    cpu_empty_cache();
    const double before = resident_mib();
    { Tensor t = Tensor::full({int64_t(16) << 20}, 1.0); }  // 64 MiB written, then freed: kept
    CHECK(cpu_memory_stats().bytes_cached >= size_t(64) << 20);
    const double kept = resident_mib() - before;
    cpu_empty_cache();
    CHECK(cpu_memory_stats().bytes_cached == 0);
#if defined(__SANITIZE_ADDRESS__)
    (void)kept;  // ASan holds freed memory in its quarantine: resident memory says nothing there
#else
    CHECK(kept > 50);
    CHECK(resident_mib() - before < 0.25 * kept);
#endif
}

TEST_CASE("neural-style's one-dash flags become stylize's, the ones that differ are mapped", "[nst][cli]") {
    const auto is_flag = [](const std::string& f) {
        for (const char* k : {"--content-image", "--image-size", "--original-colors", "--style-blend-weights"})
            if (f == k) return true;
        return false;
    };
    std::vector<std::string> notes;
    const std::vector<std::string> in = {"-content_image", "a.png", "-image_size", "256", "-original_colors", "0",
                                         "-backend", "cudnn", "-model_file", "m.pth", "-lbfgs_num_correction", "0",
                                         "-cudnn_autotune", "--image-size", "64", "-colour", "red", "-style_blend_weights",
                                         "1,2", "-original_colors", "1", "-5"};
    const std::vector<std::string> want = {"--content-image", "a.png", "--image-size", "256", "--backend", "library",
                                           "--weights", "m.pth", "--image-size", "64", "-colour", "red",
                                           "--style-blend-weights", "1,2", "--original-colors", "-5"};
    CHECK(translate_neural_style_args(in, is_flag, &notes) == want);
    REQUIRE(notes.size() == 1);
    CHECK_THAT(notes[0], Catch::Contains("-cudnn_autotune"));
}

TEST_CASE("colour transforms: YIQ round trip, original colours, histogram and luminance matching", "[color]") {
    const Tensor img = Tensor::uniform({1, 3, 9, 7}, 0, 1, 3), other = Tensor::uniform({1, 3, 9, 7}, 0, 1, 4);
    CHECK(test::rel_err(yiq_to_rgb(rgb_to_yiq(img)), img) < 1e-5);
    CHECK(test::rel_err(original_colors(img, img), img) < 1e-5);
    // Output luminance, content chrominance.
    const Tensor oc = rgb_to_yiq(original_colors(img, other)), yi = rgb_to_yiq(img), yo = rgb_to_yiq(other);
    const int64_t n = 63;
    for (int64_t i = 0; i < n; ++i) {
        CHECK(oc.data<float>()[i] == Approx(yi.data<float>()[i]).margin(1e-5));
        CHECK(oc.data<float>()[n + i] == Approx(yo.data<float>()[n + i]).margin(1e-5));
    }
    // Histogram matching gives the content's mean and covariance.
    Tensor style = scale(Tensor::uniform({1, 3, 11, 13}, 0, 1, 5), 0.5);
    style.data<float>()[0] = 0.9f;
    const Tensor matched = match_color_histogram(style, other);
    auto stats = [](const Tensor& t, double mu[3], double cov[3][3]) {
        const int64_t m = t.dim(2) * t.dim(3);
        const float* p = t.data<float>();
        for (int c = 0; c < 3; ++c) {
            mu[c] = 0;
            for (int64_t i = 0; i < m; ++i) mu[c] += p[c * m + i] / double(m);
        }
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) {
                cov[a][b] = 0;
                for (int64_t i = 0; i < m; ++i) cov[a][b] += (p[a * m + i] - mu[a]) * (p[b * m + i] - mu[b]) / double(m);
            }
    };
    double m1[3], c1[3][3], m2[3], c2[3][3];
    stats(matched, m1, c1);
    stats(other, m2, c2);
    for (int a = 0; a < 3; ++a) {
        CHECK(m1[a] == Approx(m2[a]).margin(1e-4));
        for (int b = 0; b < 3; ++b) CHECK(c1[a][b] == Approx(c2[a][b]).margin(2e-4));
    }
    const Tensor lum = match_luminance(luminance_image(style), luminance_image(other));
    double m3[3], c3[3][3], m4[3], c4[3][3];
    stats(lum, m3, c3);
    stats(luminance_image(other), m4, c4);
    CHECK(m3[0] == Approx(m4[0]).margin(1e-4));
    CHECK(c3[0][0] == Approx(c4[0][0]).margin(1e-4));
}

TEST_CASE("the objective's loss terms and gradient match PyTorch (neural-style definitions)", "[nst]") {
    const weights::WeightFile fx = weights::read_safetensors(test::fixture("nst_loss.safetensors"));
    auto T = [&](const char* k) { return Tensor::from_vector(fx.tensors.at(k).values, fx.tensors.at(k).shape); };
    StyleObjective obj(weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors")), Device::cpu(), ObjectiveConfig{},
                       T("content_rgb"), {T("style_a_rgb"), T("style_b_rgb")}, {0.3, 0.7});
    CHECK(obj.weight_scale() == Approx(1.0));  // Caffe convention: weights apply as given
    const Tensor x = T("x");
    Tensor g = Tensor::zeros({x.numel()});
    const double total = obj.evaluate(x, g).item();
    auto ref = [&](const std::string& k) { return std::stod(fx.metadata.at(k)); };
    CHECK(obj.last().content.at(0).item() == Approx(ref("content.0")).epsilon(1e-4));
    for (int i = 0; i < 5; ++i) {
        INFO("style layer " << i);
        CHECK(obj.last().style.at(size_t(i)).item() == Approx(ref("style." + std::to_string(i))).epsilon(1e-4));
    }
    CHECK(obj.last().tv.item() == Approx(ref("tv")).epsilon(1e-4));
    CHECK(total == Approx(ref("total")).epsilon(1e-4));
    CHECK(test::rel_err(g, T("grad").reshape({x.numel()})) < 1e-4);
}

namespace {
// One evaluation's style terms (per layer) of an objective on the fixture's images.
std::vector<double> style_terms(StyleObjective&& obj, const Tensor& x) {
    Tensor g = Tensor::zeros({x.numel()});
    obj.evaluate(x, g);
    std::vector<double> r;
    for (const Tensor& t : obj.last().style) r.push_back(t.item());
    return r;
}
}  // namespace

TEST_CASE("coarse style image: the coarse layers take their targets from it, the others from --style-image",
          "[nst][controls]") {
    const weights::WeightFile fx = weights::read_safetensors(test::fixture("nst_loss.safetensors"));
    auto T = [&](const char* k) { return Tensor::from_vector(fx.tensors.at(k).values, fx.tensors.at(k).shape); };
    const auto w = weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors"));
    ObjectiveConfig cfg;
    cfg.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
    const Tensor content = T("content_rgb"), a = T("style_a_rgb"), b = T("style_b_rgb"), x = T("x");
    StyleControls coarse;
    coarse.coarse_style = b;
    coarse.coarse_layers = {"relu3_1"};
    const auto mixed = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a}, {}, coarse), x);
    const auto only_a = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a}, {}), x);
    const auto only_b = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {b}, {}), x);
    CHECK(mixed[0] == Approx(only_a[0]).epsilon(1e-6));
    CHECK(mixed[1] == Approx(only_a[1]).epsilon(1e-6));
    CHECK(mixed[2] == Approx(only_b[2]).epsilon(1e-6));
    CHECK(only_a[2] != Approx(only_b[2]).epsilon(1e-3));  // the images differ there, so the test can fail
    StyleControls bad = coarse;
    bad.coarse_layers = {"relu4_1"};
    CHECK_THROWS_WITH(StyleObjective(w, Device::cpu(), cfg, content, {a}, {}, bad), Catch::Contains("relu4_1"));
}

TEST_CASE("style masks: a white mask gives the plain Gram, complementary masks split the style terms by region",
          "[nst][controls]") {
    const weights::WeightFile fx = weights::read_safetensors(test::fixture("nst_loss.safetensors"));
    auto T = [&](const char* k) { return Tensor::from_vector(fx.tensors.at(k).values, fx.tensors.at(k).shape); };
    const auto w = weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors"));
    ObjectiveConfig cfg;
    const Tensor content = T("content_rgb"), a = T("style_a_rgb"), b = T("style_b_rgb"), x = T("x");
    const int64_t H = content.shape()[2], W = content.shape()[3];
    auto mask = [&](auto inside) {
        std::vector<float> m(size_t(H * W));
        for (int64_t i = 0; i < H; ++i)
            for (int64_t j = 0; j < W; ++j) m[size_t(i * W + j)] = inside(i, j) ? 1.0f : 0.0f;
        return Tensor::from_vector(m, {1, 1, H, W});
    };
    StyleControls white;
    white.masks = {mask([](int64_t, int64_t) { return true; })};
    const auto plain = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a}, {}), x);
    const auto masked = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a}, {}, white), x);
    REQUIRE(plain.size() == masked.size());
    for (size_t i = 0; i < plain.size(); ++i) CHECK(masked[i] == Approx(plain[i]).epsilon(1e-5));

    // Left half style a, right half style b: differs from either style alone, and swapping the masks
    // (a on the right) changes the terms too.
    StyleControls halves, swapped;
    halves.masks = {mask([&](int64_t, int64_t j) { return j < W / 2; }), mask([&](int64_t, int64_t j) { return j >= W / 2; })};
    swapped.masks = {halves.masks[1], halves.masks[0]};
    const auto split = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a, b}, {}, halves), x);
    const auto other = style_terms(StyleObjective(w, Device::cpu(), cfg, content, {a, b}, {}, swapped), x);
    CHECK(split[0] != Approx(plain[0]).epsilon(1e-3));
    CHECK(split[0] != Approx(other[0]).epsilon(1e-3));
    StyleControls wrong_count;
    wrong_count.masks = {white.masks[0]};
    CHECK_THROWS_WITH(StyleObjective(w, Device::cpu(), cfg, content, {a, b}, {}, wrong_count),
                      Catch::Contains("--style-masks has 1 masks for 2 style images"));
}

TEST_CASE("tiled evaluation: the whole image's objective and gradient, to rounding, with tiles smaller than the image",
          "[nst][tiles]") {
    const auto w = weights::load_vgg19_weights(test::fixture("vgg_tiny.safetensors"));
    // 352x288: with 64-pixel cores and a 96-pixel halo, every window (at most 256 wide) is smaller than
    // the image, so the halo's sufficiency is what is tested, not a window that covers everything.
    const Tensor content = Tensor::uniform({1, 3, 288, 352}, 0, 1, 5), style = Tensor::uniform({1, 3, 200, 240}, 0, 1, 6);
    ObjectiveConfig cfg;  // relu4_2 content, relu1_1 … relu5_1 style
    StyleObjective whole(w, Device::cpu(), cfg, content, {style}, {});
    TiledObjective tiled(w, Device::cpu(), cfg, content, {style}, {}, {}, 64);
    REQUIRE(tiled.grid().halo == 96);
    REQUIRE(tiled.grid().tiles.size() == 30);  // 6 x 5 cores
    for (const auto& t : tiled.grid().tiles) REQUIRE(t.ih * t.iw < 288 * 352);
    const Tensor x = scale(Tensor::randn({1, 3, 288, 352}, 7), 20.0);
    Tensor gw = Tensor::zeros({x.numel()}), gt = Tensor::zeros({x.numel()});
    const double fw = whole.evaluate(x, gw).item(), ft = tiled.evaluate(x, gt).item();
    CHECK(ft == Approx(fw).epsilon(1e-5));
    for (size_t i = 0; i < 5; ++i) CHECK(tiled.last().style[i].item() == Approx(whole.last().style[i].item()).epsilon(1e-4));
    CHECK(tiled.last().content[0].item() == Approx(whole.last().content[0].item()).epsilon(1e-5));
    CHECK(test::rel_err(gt, gw) < 1e-4);
    // A halo too small would not be exact: the test can tell.
    CHECK(halo_for_layers({"relu1_1"}) == 16);
    CHECK(halo_for_layers({"relu5_1"}) == 96);
}

TEST_CASE("stylize --tile-size: a tiled run ends where the whole-image run does, to rounding", "[nst][tiles][e2e]") {
    TempDir d("tiles");
    StylizeOptions o = tiny_options(d);
    o.image_size = 160;
    o.num_iterations = 10;
    std::ostringstream log;
    const StylizeResult whole = stylize(o, log);
    fs::rename(o.output_image, d / "whole.png");
    o.tile_size = 64;
    const StylizeResult tiled = stylize(o, log);
    CHECK(log.str().find("6 tiles of 64 pixels, each with a 96-pixel halo") != std::string::npos);
    INFO("whole " << whole.final_loss << ", tiled " << tiled.final_loss);
    CHECK(std::abs(tiled.final_loss - whole.final_loss) <= 1e-4 * whole.final_loss);
    const Image a = load_image(d / "whole.png"), b = load_image(o.output_image);
    double worst = 0;
    for (size_t i = 0; i < a.rgb.size(); ++i) worst = std::max(worst, double(std::abs(a.rgb[i] - b.rgb[i])));
    CHECK(worst <= 2.0 / 255);  // 8-bit images: at most a rounding step or two apart
}

TEST_CASE("normalize_gradient rescales the gradient to strength / L1 norm", "[nst]") {
    Tensor x = Tensor::from_vector(std::vector<float>{1, -2, 3}, {3}).requires_grad_();
    Tensor y = normalize_gradient(x, 2.0);
    CHECK(y.to_vector<float>() == x.to_vector<float>());
    y.backward(Tensor::from_vector(std::vector<float>{1, -1, 2}, {3}));  // L1 norm 4
    const auto g = x.grad().to_vector<float>();
    CHECK(g[0] == Approx(0.5));
    CHECK(g[1] == Approx(-0.5));
    CHECK(g[2] == Approx(1.0));
}

TEST_CASE("a 64-px CPU run with small random weights lowers the loss at least 10x and writes the image", "[nst][e2e]") {
    TempDir d("e2e");
    StylizeOptions o = tiny_options(d);
    // A random network has regions of negative curvature where neural-style's fixed-step L-BFGS (like
    // Torch's) rejects every pair and crawls; the strong-Wolfe line search is made for that.
    o.lbfgs_line_search = true;
    o.log_json = d / "log.json";
    o.print_iter = 10;
    std::ostringstream log;
    const StylizeResult r = stylize(o, log);
    INFO(log.str());
    CHECK(r.final_loss * 10 <= r.initial_loss);
    CHECK(r.evaluations >= 40);
    const Image out = load_image(o.output_image);
    CHECK(out.width == 64);
    CHECK(out.height == 48);
    std::ifstream j(o.log_json);
    const std::string json((std::istreambuf_iterator<char>(j)), std::istreambuf_iterator<char>());
    CHECK(json.find("\"seconds_per_evaluation\"") != std::string::npos);
    CHECK(json.find("\"iteration\": 1,") != std::string::npos);  // iteration 1 is the initial image
    CHECK(log.str().find("iter 40/40") != std::string::npos);
}

TEST_CASE("every option path runs: Adam, image init, pyramid, colour control, normalised gradients", "[nst][e2e]") {
    TempDir d("paths");
    StylizeOptions base = tiny_options(d);
    base.num_iterations = 6;
    std::ostringstream log;
    {
        StylizeOptions o = base;
        o.optimizer = "adam";
        o.init = "image";
        o.original_colors = true;
        CHECK(stylize(o, log).evaluations == 6);
    }
    {
        StylizeOptions o = base;
        o.scales = {32, 64};
        o.color_control = "histogram";
        o.objective.normalize_gradients = true;
        o.objective.pooling = Pooling::Avg;
        o.style_images = {base.style_images[0], base.content_image};
        o.style_blend_weights = {2, 1};
        CHECK(stylize(o, log).evaluations == 12);
        CHECK(load_image(o.output_image).width == 64);
    }
    {
        StylizeOptions o = base;
        o.color_control = "luminance";
        o.lbfgs_line_search = true;
        o.output_image = d / "out.jpg";
        CHECK(stylize(o, log).evaluations >= 6);
        CHECK(load_image(o.output_image).height == 48);
    }
}

TEST_CASE("checkpoint and resume reproduce an uninterrupted run exactly", "[nst][e2e]") {
    TempDir d("resume");
    StylizeOptions o = tiny_options(d);
    o.num_iterations = 20;
    o.save_iter = 10;
    std::ostringstream log;
    const StylizeResult full = stylize(o, log);
    REQUIRE(fs::exists(d / "out_64_10.png"));  // the intermediate image
    // A successful run removes its checkpoint.
    CHECK(!fs::exists(o.output_image + ".ckpt.safetensors"));
    fs::rename(o.output_image, d / "uninterrupted.png");

    // The first half with --keep-checkpoint, then a larger --num-iterations continues it.
    StylizeOptions half = o;
    half.num_iterations = 10;
    half.keep_checkpoint = true;
    half.output_image = d / "half.png";
    stylize(half, log);
    REQUIRE(fs::exists(half.output_image + ".ckpt.safetensors"));
    StylizeOptions r = o;
    r.resume = half.output_image + ".ckpt.safetensors";
    r.checkpoint = d / "second.ckpt.safetensors";
    const StylizeResult resumed = stylize(r, log);
    CHECK(resumed.evaluations == 10);
    CHECK(resumed.final_loss == Approx(full.final_loss).epsilon(1e-6));
    CHECK(load_image(d / "uninterrupted.png").rgb == load_image(o.output_image).rgb);
    CHECK(fs::exists(r.resume));  // a checkpoint given only as --resume is an input: it stays
    CHECK(!fs::exists(r.checkpoint));

    // A checkpoint from other options is refused, naming the value that differs and both values.
    StylizeOptions other = r;
    other.objective.style_weight = 50;
    expect_error([&] { stylize(other, log); }, "--style-weight '50' here, '100' in the checkpoint");
    // ... and so is a --num-iterations below the checkpoint's iteration.
    StylizeOptions shorter = r;
    shorter.num_iterations = 5;
    expect_error([&] { stylize(shorter, log); }, "pass --num-iterations 10 or more");
}

TEST_CASE("the same command after a kill continues from its checkpoint, another run's is refused, --restart starts "
          "afresh, a file that is no checkpoint is never overwritten", "[nst][e2e]") {
    TempDir d("rerun");
    StylizeOptions o = tiny_options(d);
    o.num_iterations = 8;
    o.save_iter = 4;
    std::ostringstream log;
    const StylizeResult full = stylize(o, log);
    fs::rename(o.output_image, d / "uninterrupted.png");
    // "Killed" after iteration 4: the first half, its checkpoint kept where the full command writes it.
    StylizeOptions half = o;
    half.num_iterations = 4;
    half.keep_checkpoint = true;
    stylize(half, log);
    const std::string ckpt = o.output_image + ".ckpt.safetensors";
    REQUIRE(fs::exists(ckpt));
    // Another run (another --style-weight) is refused, naming both ways out and what differs; nothing is lost.
    StylizeOptions other = o;
    other.objective.style_weight = 50;
    expect_error([&] { stylize(other, log); }, "holds the checkpoint of another run (--style-weight '50' here, '100' in "
                                               "the checkpoint): continue that run with --resume");
    expect_error([&] { stylize(other, log); }, "or start this one with --restart");
    REQUIRE(fs::exists(ckpt));
    // The same command continues from iteration 4, says so, ends as the uninterrupted run, and removes it.
    std::ostringstream rerun_log;
    const StylizeResult rerun = stylize(o, rerun_log);
    CHECK(rerun_log.str().find("resuming " + ckpt + ", this run's checkpoint") != std::string::npos);
    CHECK(rerun.evaluations == 4);
    CHECK(rerun.final_loss == Approx(full.final_loss).epsilon(1e-6));
    CHECK(load_image(d / "uninterrupted.png").rgb == load_image(o.output_image).rgb);
    CHECK(!fs::exists(ckpt));
    // --restart over another run's checkpoint starts afresh (all 8 iterations) and ends as the full run.
    stylize(half, log);
    StylizeOptions fresh = o;
    fresh.restart = true;
    CHECK(stylize(fresh, log).evaluations == 8);
    CHECK(load_image(d / "uninterrupted.png").rgb == load_image(o.output_image).rgb);
    // A file that is no checkpoint is refused before any work, with or without --restart, and kept as it was.
    const std::string victim = d / "victim.png";
    write_test_image(victim, 20, 20, 3);
    const std::string before = read_file_bytes(victim);
    for (const bool restart : {false, true}) {
        StylizeOptions v = o;
        v.checkpoint = victim;
        v.restart = restart;
        v.output_image = d / "never.png";
        expect_error([&] { stylize(v, log); }, "--checkpoint " + victim + " exists and is not a stylize checkpoint");
        CHECK(read_file_bytes(victim) == before);
        CHECK(!fs::exists(v.output_image));
    }
    StylizeOptions both = o;
    both.restart = true;
    both.resume = ckpt;
    expect_error([&] { stylize(both, log); }, "--restart and --resume contradict each other");
}

TEST_CASE("resume goes by the inputs' contents: other paths to the same files resume, changed contents do not",
          "[nst][e2e]") {
    TempDir d("resume_content");
    StylizeOptions o = tiny_options(d);
    o.num_iterations = 6;
    o.keep_checkpoint = true;
    std::ostringstream log;
    stylize(o, log);
    const std::string ckpt = o.output_image + ".ckpt.safetensors";
    REQUIRE(fs::exists(ckpt));
    // The same run from another folder, with copies of the images and the weights.
    fs::create_directories(d / "elsewhere");
    for (const std::string f : {"content.png", "style.png"}) fs::copy_file(d / f, d / ("elsewhere/" + f));
    fs::copy_file(o.weights, d / "elsewhere/w.safetensors");
    StylizeOptions moved = o;
    moved.content_image = d / "elsewhere/content.png";
    moved.style_images = {d / "elsewhere/style.png"};
    moved.weights = d / "elsewhere/w.safetensors";
    moved.resume = ckpt;
    moved.num_iterations = 8;
    moved.output_image = d / "elsewhere/out.png";
    moved.checkpoint = d / "elsewhere/out.ckpt.safetensors";
    CHECK(stylize(moved, log).evaluations == 2);
    // The same path with other contents is refused, and the message names the flag.
    write_test_image(d / "elsewhere/style.png", 70, 70, 7);
    expect_error([&] { stylize(moved, log); }, "--style-image has other contents than when the checkpoint was made");
}

TEST_CASE("stylize refuses bad input with one clear message and writes nothing", "[nst][errors]") {
    TempDir d("errors");
    const StylizeOptions good = tiny_options(d);
    std::ostringstream log;
    auto with = [&](auto change) {
        StylizeOptions o = good;
        o.output_image = d / "never.png";
        change(o);
        return o;
    };
    expect_error([&] { stylize(with([&](auto& o) { o.content_image = d / "missing.png"; }), log); }, "--content-image");
    {
        std::ofstream(d / "text.png") << "this is not an image";
        expect_error([&] { stylize(with([&](auto& o) { o.style_images = {d / "text.png"}; }), log); }, "not a readable image");
    }
    expect_error([&] { stylize(with([](auto& o) { o.image_size = 0; }), log); }, "--image-size");
    expect_error([&] { stylize(with([](auto& o) { o.image_size = 100000; }), log); }, "out of range");
    // 80x60 content at 16 px is 16x12: said with the flag, the image's size and the size that would do.
    expect_error([&] { stylize(with([](auto& o) { o.image_size = 16; }), log); },
                 "--image-size 16 makes the content 16x12 pixels, too small for VGG-19's 4 poolings up to relu5_1, which "
                 "need at least 16 pixels on each side: use 22 or more");
    expect_error([&] { stylize(with([](auto& o) { o.scales = {20, 64}; }), log); }, "--scales: 20 makes the content");
    expect_error([&] { stylize(with([](auto& o) { o.max_pixels = 1000; }), log); }, "more than this program accepts");
    expect_error([&] { stylize(with([](auto& o) { o.output_image = "/nonexistent-dir/out.png"; }), log); }, "does not exist");
    expect_error([&] { stylize(with([&](auto& o) { o.output_image = d / "out.gif"; }), log); }, ".png, .jpg");
    expect_error([&] { stylize(with([](auto& o) { o.objective.style_layers = {"relu9_9"}; }), log); }, "relu9_9");
    expect_error([&] { stylize(with([](auto& o) { o.style_blend_weights = {1, 2}; }), log); }, "--style-blend-weights");
    expect_error([&] { stylize(with([&](auto& o) { o.weights = d / "nope.safetensors"; }), log); }, "--weights");
    expect_error([&] { stylize(with([&](auto& o) { o.weights = d / "text.png"; }), log); }, "unknown weight file format");
    expect_error([&] { stylize(with([](auto& o) { o.optimizer = "sgd"; }), log); }, "--optimizer");
    expect_error([&] { stylize(with([](auto& o) { o.scales = {64, 32}; }), log); }, "--scales");
    CHECK_FALSE(fs::exists(d / "never.png"));
    // Inputs are never written: an output, checkpoint or log that is an input, by any name, is refused
    // before any work, and every write target is checked then too.
    {
        const auto content_bytes = [&] {
            std::ifstream f(d / "content.png", std::ios::binary);
            return std::string(std::istreambuf_iterator<char>(f), {});
        };
        const std::string before = content_bytes();
        fs::create_symlink(d / "content.png", d / "link.png");
        fs::create_hard_link(d / "content.png", d / "hard.png");
        fs::create_directory(d / "a-folder.png");
        const std::string again = d / "./content.png";
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = d / "content.png"; }), log); },
                     "is the same file as --content-image");
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = again; }), log); }, "refusing to overwrite an input");
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = d / "link.png"; }), log); }, "--content-image");
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = d / "hard.png"; }), log); }, "--content-image");
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = good.style_images[0]; }), log); }, "--style-image");
        expect_error([&] { stylize(with([&](auto& o) { o.log_json = d / "content.png"; }), log); }, "--log-json");
        expect_error([&] { stylize(with([&](auto& o) { o.checkpoint = good.weights; }), log); }, "the same file as --weights");
        expect_error([&] { stylize(with([&](auto& o) { o.log_json = d / "never.png"; }), log); }, "each output needs its own file");
        expect_error([&] { stylize(with([&](auto& o) { o.output_image = d / "a-folder.png"; }), log); }, "is a folder");
        expect_error([&] { stylize(with([&](auto& o) { o.checkpoint = d / "no-such/c.safetensors"; }), log); },
                     "--checkpoint");
        expect_error([&] { stylize(with([&](auto& o) { o.log_json = d / "no-such/log.json"; }), log); }, "does not exist");
        CHECK(content_bytes() == before);
        CHECK_FALSE(fs::exists(d / "never.png"));
    }
    {  // --init-image without --init image: a warning, then the run as asked
        std::ostringstream warned;
        StylizeOptions o = good;
        o.init_image = d / "style.png";
        o.num_iterations = 1;
        o.output_image = d / "warned.png";
        stylize(o, warned);
        CHECK_THAT(warned.str(), Catch::Contains("--init-image") && Catch::Contains("only with --init image"));
    }
    // NaN/Inf in the loss: stop, keep the last good image, say so.
    StylizeOptions o = good;
    o.objective.style_weight = 1e38;
    expect_error([&] { stylize(o, log); }, "infinite");
    CHECK(fs::exists(o.output_image));
}

TEST_CASE("shared images: a 128-px CPU run of chelsea + starry_night lowers the loss 10x", "[nst][shared]") {
    const std::string w = test::shared("weights/vgg19-conv.safetensors"), c = test::shared("images/chelsea.png"),
                      s = test::shared("images/starry_night.jpg");
    if (!test::exists(w) || !test::exists(c) || !test::exists(s)) {
        std::cout << "NST_SKIPPED: ../shared weights or images not present\n";
        return;
    }
    TempDir d("shared");
    StylizeOptions o;
    o.content_image = c;
    o.style_images = {s};
    o.weights = w;
    o.image_size = 128;
    o.gpu = -1;
    o.num_iterations = 40;
    o.print_iter = 0;
    o.save_iter = 0;
    o.output_image = d / "chelsea_starry.png";
    std::ostringstream log;
    const StylizeResult r = stylize(o, log);
    CHECK(r.final_loss * 10 <= r.initial_loss);
    CHECK(load_image(o.output_image).width == 128);
}

TEST_CASE("images: grey, grey+alpha, RGBA, 16-bit and JPEG all load as RGB in 0..1", "[image]") {
    for (const char* f : {"kind_grey.png", "kind_grey_alpha.png", "kind_rgba.png", "kind_grey16.png", "kind_rgb.jpg"}) {
        INFO(f);
        const Image img = load_image(test::fixture(f));
        REQUIRE(img.width == 6);
        REQUIRE(img.height == 4);
        const double tol = std::string(f).find(".jpg") != std::string::npos ? 0.02 : 1.0 / 255;
        for (int i = 0; i < 24; ++i)
            for (int c = 0; c < 3; ++c)  // the pattern i/23 in every channel; alpha is dropped
                CHECK(img.rgb[size_t(i) * 3 + size_t(c)] == Approx(i / 23.0).margin(tol));
    }
    // 16 bits are kept, not truncated to 8: i/23 is exact to 1/65535.
    const Image deep = load_image(test::fixture("kind_grey16.png"));
    CHECK(deep.rgb[3] == Approx(1 / 23.0).margin(2.0 / 65535));
}

TEST_CASE("images: hostile and unsupported files are refused by name before stb decodes them", "[image]") {
    // Each one is a past fuzzer finding in Debian's stb_image or a format compiled out (stb_impl.cpp).
    static const char kPngClaims1GiB[] =  // signature, a 5x3 IHDR, then an IDAT chunk claiming 0x40000013 bytes
        "\x89PNG\r\n\x1a\n"
        "\x00\x00\x00\x0d" "IHDR" "\x00\x00\x00\x05\x00\x00\x00\x03\x08\x04\x00\x00\x00" "\xf1\x3f\x0d\x73"
        "\x40\x00\x00\x13" "IDAT";
    const std::pair<std::string, std::string> cases[] = {
        {std::string("P6\n53\n536\n322552255255\n"), "PNM header number has 12 digits"},
        {std::string(kPngClaims1GiB, sizeof kPngClaims1GiB - 1),
         "PNG chunk declares 1073741843 bytes"},
        {std::string("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n") + std::string(16, '\x80'), "not a readable image"},
        {std::string("8BPS\x00\x01") + std::string(40, '\0'), "not a readable image"},
    };
    for (const auto& [bytes, why] : cases) {
        INFO(why);
        CHECK_THROWS_WITH(decode_image(bytes, "bad.img"), Catch::Contains("bad.img") && Catch::Contains(why));
    }
    // A JPEG whose Huffman table declares 300 codes, behind fill bytes before its start marker.
    std::string jpeg = "\xff\xff\xff\xd8\xff\xc4";
    jpeg += std::string("\x00\x13\x00", 3);  // segment length 19, table class 0 / id 0
    for (int i = 0; i < 16; ++i) jpeg += char(i < 2 ? 150 : 0);
    CHECK_THROWS_WITH(decode_image(jpeg, "bad.jpg"), Catch::Contains("Huffman table declares 300 codes"));
}

TEST_CASE("images: a PNG header claiming 20000x20000 gets the --max-pixels message, not 'unknown image type'", "[image]") {
    // stb_image refuses such a header before it reports the size; the IHDR is read first (issue #22, item 7).
    std::string png = read_file_bytes(test::fixture("tiny_rgb.png"));
    REQUIRE(png.compare(12, 4, "IHDR") == 0);
    const auto claim = [&](uint32_t w, uint32_t h) {
        std::string b = png;
        for (int k = 0; k < 4; ++k) b[size_t(16 + k)] = char(w >> (24 - 8 * k)), b[size_t(20 + k)] = char(h >> (24 - 8 * k));
        return b;
    };
    for (const uint32_t side : {20000u, 40000u, 1000u}) {
        INFO(side);
        const std::string b = claim(side, side);
        const std::string size = std::to_string(side) + "x" + std::to_string(side) + " pixels is more than";
        CHECK_THROWS_WITH(decode_image(b, "big.png", 100'000), Catch::Contains("big.png: " + size) &&
                                                                  Catch::Contains("--max-pixels raises the limit"));
        const std::string path = (std::filesystem::temp_directory_path() / "nst_big_header.png").string();
        write_file_atomic(path, b);
        CHECK_THROWS_WITH(read_image_size(path, 100'000), Catch::Contains(size));
        std::filesystem::remove(path);
    }
}

TEST_CASE("images: a lossless WebP gives the PNG's pixels and its size from the header, and broken or huge ones are refused by name",
          "[image]") {
    // tiny_rgb.webp holds tiny_rgb.png's pixels, lossless (tests/make_fixtures.py).
    const Image png = load_image(test::fixture("tiny_rgb.png"));
    const std::string bytes = read_file_bytes(test::fixture("tiny_rgb.webp"));
#ifdef NST_HAVE_WEBP
    const Image webp = decode_image(bytes, "tiny.webp");
    CHECK(webp.width == 7);
    CHECK(webp.height == 5);
    CHECK(webp.rgb == png.rgb);
    CHECK(read_image_size(test::fixture("tiny_rgb.webp")) == std::pair<int, int>{7, 5});
    CHECK_THROWS_WITH(decode_image(bytes, "tiny.webp", 20), Catch::Contains("tiny.webp: 7x5 pixels is more than"));
    CHECK_THROWS_WITH(decode_image(bytes.substr(0, bytes.size() / 2), "cut.webp"), Catch::Contains("cut.webp: not a readable image"));
    std::string lying = bytes;
    lying[12] = 'X';  // the chunk after the RIFF header is no WebP chunk
    CHECK_THROWS_WITH(decode_image(lying, "lying.webp"), Catch::Contains("lying.webp: not a readable image"));
#else
    CHECK_THROWS_WITH(decode_image(bytes, "tiny.webp"), Catch::Contains("libwebp-dev"));
#endif
}

TEST_CASE("images: save is atomic and by extension and resize keeps the aspect ratio", "[image]") {
    TempDir d("images");
    const Image img = load_image(test::fixture("tiny_rgb.png"));
    save_image(img, d / "a.png");
    save_image(img, d / "a.JPG");
    CHECK(load_image(d / "a.png").rgb == img.rgb);
    CHECK(load_image(d / "a.JPG").width == 7);
    for (const auto& e : fs::directory_iterator(d.path)) CHECK(e.path().string().find(".tmp") == std::string::npos);
    CHECK_THROWS_WITH(save_image(img, d / "a.bmp"), Catch::Contains(".png, .jpg or .jpeg"));
    const Image big = resize_longest(img, 70);
    CHECK(big.width == 70);
    CHECK(big.height == 50);
    CHECK_THROWS_WITH(load_image(d / "missing.png"), Catch::Contains("cannot open"));
}

TEST_CASE("a stop request (Ctrl-C) saves the image and a checkpoint, and resuming finishes the same run", "[nst][e2e]") {
    TempDir d("stop");
    StylizeOptions o = tiny_options(d);
    o.image_size = 48;
    o.num_iterations = 1500;
    std::ostringstream log;
    const StylizeResult full = stylize(o, log);
    fs::rename(o.output_image, d / "uninterrupted.png");

    std::string message;
    std::atomic<bool> done{false};
    std::thread run([&] {
        try {
            stylize(o, log);
        } catch (const Interrupted& e) {
            message = e.what();
        }
        done = true;
    });
    // stylize() clears old requests when it starts, so keep asking until it has stopped.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    while (!done) {
        request_stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    run.join();
    INFO(message);
    REQUIRE(message.find("--resume") != std::string::npos);  // stopped early, said how to continue
    CHECK(fs::exists(o.output_image));
    StylizeOptions r = o;
    r.resume = o.output_image + ".ckpt.safetensors";
    const StylizeResult rest = stylize(r, log);
    CHECK(rest.evaluations < full.evaluations);
    CHECK(load_image(o.output_image).rgb == load_image(d / "uninterrupted.png").rgb);
}
