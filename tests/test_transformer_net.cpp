// TransformerNet (layers/transformer_net.h) against PyTorch: a narrow network with pytorch/examples'
// layers and key names, its outputs made by tests/make_transformer_fixtures.py, read from safetensors and
// from both .pth formats (the legacy one with the running statistics old files carry); the
// conditional-instance-norm form with mixed style weights; parameters(), zero_grad and state_dict; and
// the errors for files that are not a TransformerNet.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "core/ops.h"
#include "layers/transformer_net.h"
#include "media/image.h"
#include "stylize/feedforward.h"
#include "tests/catch.h"
#include "tests/test_util.h"
#include "weights/vgg19_weights.h"

using namespace nst;

namespace {

std::string fx(const std::string& name) { return std::string(NST_FIXTURES_DIR) + "/" + name; }

Tensor io(const std::string& key) {
    static const weights::WeightFile f = weights::read_any_weights(fx("transformer_tiny_io.safetensors"));
    const auto& h = f.tensors.at(key);
    return Tensor::from_vector(h.values, Shape(h.shape.begin(), h.shape.end()));
}

TransformerNet load(const std::string& name) {
    return TransformerNet::from_weights(weights::read_any_weights(fx(name)), Device::cpu(), name);
}

}  // namespace

TEST_CASE("TransformerNet from safetensors, zip .pth and legacy .pth gives PyTorch's output", "[transformer]") {
    const Tensor x = io("input"), want = io("output");
    for (const char* file : {"transformer_tiny.safetensors", "transformer_tiny.pth", "transformer_tiny_legacy.pth"}) {
        INFO(file);
        const TransformerNet net = load(file);
        CHECK(net.styles() == 0);
        const Tensor y = net.forward(x);
        REQUIRE(y.shape() == Shape{1, 3, 24, 20});  // 21x17 -> /2 -> /2 -> x2 -> x2, as PyTorch's
        const double e = test::rel_err(y, want);
        INFO("rel err " << e);
        CHECK(e < 1e-5);
    }
}

TEST_CASE("TransformerNet with conditional instance norm mixes the style rows as PyTorch does", "[transformer]") {
    TransformerNet net = load("transformer_tiny_cond.safetensors");
    REQUIRE(net.styles() == 3);
    CHECK_THROWS_WITH(net.forward(io("input")), Catch::Contains("set_style_mix"));
    net.set_style_mix(io("cond_alpha"));
    const double e = test::rel_err(net.forward(io("input")), io("cond_output"));
    INFO("rel err " << e);
    CHECK(e < 1e-5);
    // The same weights given as (S): one mix for every sample of a batch of 2.
    net.set_style_mix(Tensor::from_vector(std::vector<float>{0.2f, 0.5f, 0.3f}, {3}));
    const std::vector<float> one = io("input").to_vector<float>();
    std::vector<float> two = one;
    two.insert(two.end(), one.begin(), one.end());
    const std::vector<float> y = net.forward(Tensor::from_vector(two, {2, 3, 21, 17})).to_vector<float>();
    const std::vector<float> ref = io("cond_output").to_vector<float>();
    for (size_t i = 0; i < ref.size(); ++i) CHECK(std::abs(y[i + ref.size()] - ref[i]) < 1e-4 * (1 + std::abs(ref[i])));
    CHECK_THROWS_WITH(net.set_style_mix(Tensor::from_vector(std::vector<float>{1, 0}, {2})),
                      Catch::Contains("must be (3) or (N, 3)"));
    CHECK_THROWS_WITH(load("transformer_tiny.safetensors").set_style_mix(io("cond_alpha")),
                      Catch::Contains("one style"));
}

TEST_CASE("TransformerNet's parameters carry pytorch/examples' names, state_dict round-trips, zero_grad clears",
          "[transformer]") {
    const weights::WeightFile file = weights::read_any_weights(fx("transformer_tiny.safetensors"));
    const TransformerNet net = TransformerNet::from_weights(file, Device::cpu(), "tiny");
    std::set<std::string> names, keys;
    for (const auto& [name, t] : net.named_parameters()) names.insert(name);
    for (const auto& [key, t] : file.tensors) keys.insert(key);
    CHECK(names == keys);
    CHECK(names.count("res3.conv1.conv2d.weight") == 1);
    CHECK(names.count("deconv1.conv2d.bias") == 1);
    CHECK(names.count("in5.weight") == 1);
    CHECK(net.parameters().size() == 62);  // 16 convs and 15 norms, two tensors each

    const TransformerNet again = TransformerNet::from_weights(net.state_dict(), Device::cpu(), "state_dict()");
    CHECK(test::rel_err(again.forward(io("input")), net.forward(io("input"))) == 0);

    for (Tensor p : net.parameters()) p.requires_grad_();
    sum(net.forward(io("input"))).backward();
    for (const Tensor& p : net.parameters()) CHECK(p.grad().defined());
    net.zero_grad();
    for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("a file that is not a TransformerNet is refused naming the key and what was wrong", "[transformer]") {
    const weights::WeightFile good = weights::read_any_weights(fx("transformer_tiny.safetensors"));
    weights::WeightFile missing = good;
    missing.tensors.erase("res4.in2.bias");
    CHECK_THROWS_WITH(TransformerNet::from_weights(missing, Device::cpu(), "m.pth"),
                      Catch::Contains("m.pth: not a TransformerNet") && Catch::Contains("'res4.in2.bias'"));
    weights::WeightFile shaped = good;
    shaped.tensors["deconv2.conv2d.bias"].shape = {3};
    shaped.tensors["deconv2.conv2d.bias"].values.resize(3);
    CHECK_THROWS_WITH(TransformerNet::from_weights(shaped, Device::cpu(), "s.pth"),
                      Catch::Contains("'deconv2.conv2d.bias' has shape [3]") && Catch::Contains("needs [2]"));
    weights::WeightFile extra = good;
    extra.tensors["fc.weight"] = {{1}, {0.f}, "F32"};
    CHECK_THROWS_WITH(TransformerNet::from_weights(extra, Device::cpu(), "e.pth"),
                      Catch::Contains("unexpected key 'fc.weight'"));
    const weights::WeightFile vgg = weights::read_any_weights(fx("vgg_tiny.safetensors"));
    CHECK_THROWS_WITH(TransformerNet::from_weights(vgg, Device::cpu(), "vgg_tiny.safetensors"),
                      Catch::Contains("not a TransformerNet") && Catch::Contains("conv1.conv2d.weight"));
}

TEST_CASE("a freshly initialised TransformerNet of the paper's widths keeps an image's size", "[transformer]") {
    const TransformerNet net = TransformerNet::random(7);
    CHECK(net.parameters().size() == 62);
    const Tensor y = net.forward(Tensor::uniform({1, 3, 32, 24}, 0, 255, 1));
    REQUIRE(y.shape() == Shape{1, 3, 32, 24});
    for (float v : y.to_vector<float>()) REQUIRE(std::isfinite(v));
    TransformerNet multi = TransformerNet::random(8, 26, Device::cpu(), {8, 16, 32});
    multi.set_style_mix(Tensor::full({26}, 1.0 / 26));
    CHECK(multi.forward(Tensor::uniform({1, 3, 16, 16}, 0, 255, 2)).shape() == Shape{1, 3, 16, 16});
}

TEST_CASE("parse_style_mix (--style-mix): one style, or weights normalised to sum 1, errors naming the flag", "[transformer]") {
    CHECK(parse_style_mix("2", 4) == std::vector<float>{0, 0, 1, 0});
    CHECK(parse_style_mix("3:0.5,1:1.5", 4) == std::vector<float>{0, 0.75f, 0, 0.25f});
    CHECK(parse_style_mix("0:1,0:1", 2) == std::vector<float>{1, 0});
    CHECK_THROWS_WITH(parse_style_mix("4", 4), Catch::Contains("--style-mix 4: style 4 does not exist") &&
                                                   Catch::Contains("styles 0..3"));
    CHECK_THROWS_WITH(parse_style_mix("1:x", 4), Catch::Contains("is not STYLE or STYLE:WEIGHT"));
    CHECK_THROWS_WITH(parse_style_mix("1:-1", 4), Catch::Contains(">= 0"));
    CHECK_THROWS_WITH(parse_style_mix("1:0", 4), Catch::Contains("sum to 0"));
    CHECK_THROWS_WITH(parse_style_mix("", 4), Catch::Contains("--style-mix"));
}

TEST_CASE("stylize --model: the network on the photo in 0..255, padded to a multiple of 4 and cropped back",
          "[transformer]") {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("nst_model_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::filesystem::path p;
        ~Cleanup() { std::filesystem::remove_all(p); }
    } cleanup{dir};
    // 24x20 needs no padding: the picture is the network's output, clamped and quantised.
    const Image photo = tensor_to_image(Tensor::uniform({1, 3, 20, 24}, 0, 1, 5));
    save_image(photo, (dir / "photo.png").string());
    ModelOptions o;
    o.model = fx("transformer_tiny.safetensors");
    o.content_image = (dir / "photo.png").string();
    o.output_image = (dir / "out.png").string();
    o.gpu = -1;
    std::ostringstream log;
    const ModelResult r = stylize_with_model(o, log);
    CHECK(r.width == 24);
    CHECK(r.height == 20);
    const Image got = load_image(o.output_image);
    const TransformerNet net = load("transformer_tiny.safetensors");
    const Image want = tensor_to_image(scale(net.forward(scale(image_to_tensor(load_image(o.content_image)), 255.0)), 1 / 255.0));
    REQUIRE(got.rgb.size() == want.rgb.size());
    for (size_t i = 0; i < got.rgb.size(); ++i) REQUIRE(std::abs(got.rgb[i] - want.rgb[i]) <= 1.0f / 255 + 1e-6f);
}
