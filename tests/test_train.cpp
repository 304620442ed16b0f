// Training (issue #24): the flat parameter buffer, the photo loader, a float64 gradient check of the whole
// TransformerNet, and train_style's loop on tiny sizes (the committed vgg_tiny fixture as the loss network,
// so nothing here needs ../shared): the loss falls, resume is bit-exact, two styles train two different
// rows, bad options are refused before any work.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "layers/transformer_net.h"
#include "media/image.h"
#include "optim/flat_parameters.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "train/photo_loader.h"
#include "train/trainer.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

using namespace nst;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the test's temporary directory.
std::string fresh_dir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("nst_test_train_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d.string();
}

// n small photos of different sizes and colours (and, with `bad`, one file that is not a picture).
std::string photo_folder(const std::string& name, int n, bool bad) {
    const std::string d = fresh_dir(name);
    for (int i = 0; i < n; ++i) {
        Image img;
        img.width = 20 + 7 * i;
        img.height = 24 + 3 * (i % 3);
        img.rgb.resize(size_t(img.width) * img.height * 3);
        for (size_t j = 0; j < img.rgb.size(); ++j) img.rgb[j] = float((j * (7 + i) + i * 13) % 256) / 255.f;
        save_image(img, d + "/p" + std::to_string(i) + (i % 2 ? ".png" : ".jpg"));
    }
    if (bad) std::ofstream(d + "/broken.jpg") << "not a jpeg";
    std::ofstream(d + "/notes.txt") << "not a picture, not listed";
    return d;
}

TrainOptions tiny_options(const std::string& photos, const std::string& out) {
    TrainOptions o;
    o.style_images = {test::fixture("kind_rgb.jpg")};
    o.content_dir = photos;
    o.output_model = out + "/model.safetensors";
    o.weights = test::fixture("vgg_tiny.safetensors");
    o.iterations = 20;
    o.batch_size = 2;
    o.image_size = 16;
    o.style_size = 32;
    o.learning_rate = 1e-2;
    o.widths = {4, 4, 8};
    o.print_iter = 0;
    o.save_iter = 0;
    return o;
}

}  // namespace

TEST_CASE("FlatParameters: values gathered and scattered, gradients gathered, none where a parameter got none", "[train]") {
    Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).requires_grad_();
    Tensor b = Tensor::from_vector(std::vector<float>{4, 5, 6, 7}, {2, 2}).requires_grad_();
    FlatParameters flat({a, b});
    REQUIRE(flat.size() == 7);
    CHECK(flat.values().to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6, 7});
    sum(mul(a, a)).backward();  // b gets no gradient
    flat.gather_gradients();
    CHECK(flat.grads().to_vector<float>() == std::vector<float>{2, 4, 6, 0, 0, 0, 0});
    flat.values().copy_(Tensor::from_vector(std::vector<float>{9, 8, 7, 6, 5, 4, 3}, {7}));
    flat.scatter_values();
    CHECK(a.to_vector<float>() == std::vector<float>{9, 8, 7});
    CHECK(b.to_vector<float>() == std::vector<float>{6, 5, 4, 3});
    CHECK_THROWS_WITH(FlatParameters({a, Tensor::zeros({2}, DType::F64)}), Catch::Contains("float32 on one device"));
}

TEST_CASE("PhotoLoader: seeded batches of square crops in 0..255, a function of the step, broken files skipped once",
          "[train]") {
    const std::string d = photo_folder("loader", 5, true);
    std::ostringstream warn1, warn2;
    PhotoLoader a(d, 16, 3, 7, warn1), b(d, 16, 3, 7, warn2);
    REQUIRE(a.photos() == 6);  // five pictures and broken.jpg; notes.txt is not one
    // Each epoch is a permutation of the photos.
    for (int64_t e = 0; e < 3; ++e) {
        std::set<size_t> seen;
        for (int64_t i = 0; i < 6; ++i) seen.insert(a.item_photo(e * 6 + i));
        CHECK(seen.size() == 6);
    }
    std::vector<Tensor> first;
    for (int64_t k = 0; k < 5; ++k) first.push_back(a.batch(k));
    CHECK(first[0].shape() == Shape{3, 3, 16, 16});
    for (const Tensor& t : first)
        for (float v : t.to_vector<float>()) REQUIRE((v >= 0.f && v <= 255.f));
    // Another loader, asked out of order (no background batch to reuse), gives the same bits.
    CHECK(test::rel_err(b.batch(3), first[3]) == 0);
    CHECK(test::rel_err(b.batch(0), first[0]) == 0);
    CHECK(test::rel_err(b.batch(1), first[1]) == 0);
    CHECK(test::rel_err(first[1], first[2]) > 0);
    std::ostringstream warn3;
    PhotoLoader c(d, 16, 3, 8, warn3);
    CHECK(test::rel_err(c.batch(0), first[0]) > 0);  // another seed, another order or crops
    // broken.jpg came up in 5 batches of 3 (15 items over 6 photos) and was warned about once.
    const std::string w = warn1.str();
    CHECK(w.find("skipping " + d + "/broken.jpg") != std::string::npos);
    CHECK(w.find("skipping") == w.rfind("skipping"));
    std::ostringstream ignore;
    const std::string empty = fresh_dir("empty");
    CHECK_THROWS_WITH(PhotoLoader(empty, 16, 2, 1, ignore), Catch::Contains("--content-dir") && Catch::Contains("holds no pictures"));
    CHECK_THROWS_WITH(PhotoLoader(empty + "/missing", 16, 2, 1, ignore), Catch::Contains("no such folder"));
    const std::string only_bad = fresh_dir("only_bad");
    std::ofstream(only_bad + "/x.png") << "junk";
    PhotoLoader bad(only_bad, 16, 2, 1, ignore);
    CHECK_THROWS_WITH(bad.batch(0), Catch::Contains("none of its 1 pictures could be decoded"));
}

TEST_CASE("gradcheck every parameter of a TransformerNet (float64, widths 2, 2, 3) on an 8x8 input", "[train][gradcheck]") {
    const TransformerNet net = TransformerNet::random(3, 0, Device::cpu(), {2, 2, 3}, DType::F64);
    std::vector<Tensor> params = net.parameters();
    for (Tensor& p : params) p.requires_grad_();
    const Tensor x = Tensor::uniform({1, 3, 8, 8}, 0, 255, 4, DType::F64);
    const test::GradcheckReport rep =
        test::gradcheck([&](const std::vector<Tensor>&) { return scale(net.forward(x), 1.0 / 255); }, params, 1e-6, 1e-5);
    INFO(rep.first_failure);
    CHECK(rep.failed == 0);
    CHECK(rep.checked > 500);
}

TEST_CASE("train_style: the loss falls, resume gives the same bits, two styles train two rows, refusals before work",
          "[train]") {
    const std::string photos = photo_folder("train", 4, false), out = fresh_dir("train_out");
    std::ostringstream log;
    TrainOptions o = tiny_options(photos, out);
    o.log_json = out + "/log.json";
    o.print_iter = 1;
    const TrainResult r = train_style(o, log);
    INFO(log.str());
    CHECK(r.steps == 20);
    CHECK(r.last_loss < 0.8 * r.first_loss);
    const weights::WeightFile model = weights::read_safetensors(o.output_model);
    CHECK(model.metadata.at("nst.model") == "TransformerNet");
    CHECK(model.metadata.at("nst.styles") == "[\"kind_rgb.jpg\"]");
    const TransformerNet net = TransformerNet::from_weights(model, Device::cpu(), "model.safetensors");
    CHECK(net.styles() == 0);

    // 6 steps at once against 3, stopped, then resumed to 6: the same model, bit for bit.
    TrainOptions six = tiny_options(photos, out);
    six.iterations = 6;
    six.output_model = out + "/six.safetensors";
    train_style(six, log);
    TrainOptions first = six;
    first.output_model = out + "/unused.safetensors";
    first.checkpoint = out + "/run.ckpt";
    first.save_iter = 3;
    train_style(first, log);  // its checkpoint holds step 3 (the last one is not saved: the model is)
    TrainOptions resumed = six;
    resumed.output_model = out + "/resumed.safetensors";
    resumed.resume = out + "/run.ckpt";
    train_style(resumed, log);
    const weights::WeightFile a = weights::read_safetensors(six.output_model), b = weights::read_safetensors(resumed.output_model);
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (const auto& [k, t] : a.tensors) {
        INFO(k);
        CHECK(t.values == b.tensors.at(k).values);
    }
    TrainOptions other = resumed;
    other.seed = 43;
    CHECK_THROWS_WITH(train_style(other, log), Catch::Contains("--resume") && Catch::Contains("--seed"));

    // Two styles: each step trains one style's rows of the norms, so the two rows (and the pictures) differ.
    TrainOptions two = tiny_options(photos, out);
    two.style_images = {test::fixture("kind_rgb.jpg"), test::fixture("tiny_rgb.png")};
    two.iterations = 4;
    two.output_model = out + "/two.safetensors";
    train_style(two, log);
    TransformerNet multi = TransformerNet::from_weights(weights::read_safetensors(two.output_model), Device::cpu(), "two");
    REQUIRE(multi.styles() == 2);
    const Tensor photo = Tensor::uniform({1, 3, 16, 16}, 0, 255, 9);
    multi.set_style_mix(Tensor::from_vector(std::vector<float>{1, 0}, {2}));
    const Tensor y0 = multi.forward(photo);
    multi.set_style_mix(Tensor::from_vector(std::vector<float>{0, 1}, {2}));
    CHECK(test::rel_err(multi.forward(photo), y0) > 1e-4);

    // A third style added to the two-style network (Dumoulin et al.): only the new rows move; every other
    // weight and the two old rows come out bit for bit as they went in.
    TrainOptions add = tiny_options(photos, out);
    add.style_images = {test::fixture("tiny_rgb.png")};
    add.from_model = two.output_model;
    add.iterations = 4;
    add.output_model = out + "/three.safetensors";
    train_style(add, log);
    const weights::WeightFile before = weights::read_safetensors(two.output_model);
    const weights::WeightFile after = weights::read_safetensors(add.output_model);
    CHECK(after.metadata.at("nst.styles") == "[\"kind_rgb.jpg\",\"tiny_rgb.png\",\"tiny_rgb.png\"]");
    REQUIRE(after.tensors.size() == before.tensors.size());
    int grown = 0;
    for (const auto& [k, t] : before.tensors) {
        INFO(k);
        const weights::HostTensor& a = after.tensors.at(k);
        if (t.shape.size() != 2) {
            CHECK(a.values == t.values);
            continue;
        }
        ++grown;
        const size_t C = size_t(t.shape[1]);
        REQUIRE(a.shape == std::vector<int64_t>{3, int64_t(C)});
        CHECK(std::vector<float>(a.values.begin(), a.values.begin() + 2 * C) == t.values);
        double moved = 0;  // the new row against its start, the mean of the two old ones
        for (size_t c = 0; c < C; ++c) moved += std::abs(a.values[2 * C + c] - 0.5 * (t.values[c] + t.values[C + c]));
        CHECK(moved > 1e-4);
    }
    CHECK(grown == 2 * 15);  // in1..in5 and the residual blocks' two norms each, weight and bias
    TransformerNet three = TransformerNet::from_weights(after, Device::cpu(), "three");
    CHECK(three.styles() == 3);

    // Refusals, each before any work (no file written).
    const auto refused = [&](TrainOptions bad, const std::string& says) {
        bad.output_model = out + "/refused.safetensors";
        if (bad.log_json == o.log_json) bad.log_json.clear();
        INFO(says);
        CHECK_THROWS_WITH(train_style(bad, log), Catch::Contains(says));
        CHECK_FALSE(fs::exists(out + "/refused.safetensors"));
    };
    TrainOptions t = tiny_options(photos, out);
    t.content_dir = out + "/nowhere";
    refused(t, "--content-dir");
    t = tiny_options(photos, out);
    t.iterations = 0;
    refused(t, "--iterations");
    t = tiny_options(photos, out);
    t.style_images = {out + "/missing.jpg"};
    refused(t, "--style-image");
    t = tiny_options(photos, out);
    t.checkpoint = test::fixture("kind_rgb.jpg");
    refused(t, "--checkpoint");
    t = tiny_options(photos, out);
    t.from_model = o.output_model;  // a one-style network: nothing to add a row to
    refused(t, "a one-style network");
    t = tiny_options(photos, out);
    t.output_model = out + "/model.pth";
    CHECK_THROWS_WITH(train_style(t, log), Catch::Contains("--output-model") && Catch::Contains(".safetensors"));
}
