// Weight files: every supported format loads the same numbers, names are normalised, conventions are
// read, the converter round-trips, and the tiny VGG's activations match PyTorch's (fixtures written by
// tests/make_fixtures.py). With ../shared present, the real VGG-19 is checked too.
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/allocator.h"
#include "core/autograd.h"
#include "layers/vgg19.h"
#include "media/image.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

using namespace nst;
using namespace nst::weights;
using nst::test::fixture;

namespace {
double max_abs_diff(const WeightFile& a, const WeightFile& b) {
    REQUIRE(a.tensors.size() == b.tensors.size());
    double worst = 0;
    for (const auto& [k, t] : a.tensors) {
        INFO("tensor " << k);
        REQUIRE(b.tensors.count(k));
        const HostTensor& u = b.tensors.at(k);
        REQUIRE(t.shape == u.shape);
        for (size_t i = 0; i < t.values.size(); ++i) worst = std::max(worst, double(std::abs(t.values[i] - u.values[i])));
    }
    return worst;
}
}  // namespace

TEST_CASE("every checkpoint format loads the same VGG weights", "[weights]") {
    const Vgg19Weights ref = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    CHECK(ref.layers == 16);
    CHECK(ref.file.tensors.size() == 32);
    CHECK(ref.file.tensors.at("features.0.weight").shape == std::vector<int64_t>{4, 3, 3, 3});
    CHECK(ref.file.tensors.at("features.34.bias").shape == std::vector<int64_t>{8});
    for (const char* f : {"vgg_tiny_zip.pth", "vgg_tiny_legacy.pth", "vgg_tiny_gatys.pth", "vgg_tiny_strided.pth",
                          "vgg_tiny_old_rebuild.pth",
                          "vgg_tiny_setstate.pth"}) {
        INFO(f);
        const Vgg19Weights w = load_vgg19_weights(fixture(f));
        CHECK(w.layers == 16);
        CHECK(max_abs_diff(w.file, ref.file) == 0.0);  // bit-identical float32
    }
}

TEST_CASE("float16 and bfloat16 safetensors convert exactly as torch does", "[weights]") {
    CHECK(max_abs_diff(load_vgg19_weights(fixture("vgg_tiny_f16.safetensors")).file,
                       load_vgg19_weights(fixture("vgg_tiny_f16_expected.safetensors")).file) == 0.0);
    CHECK(max_abs_diff(load_vgg19_weights(fixture("vgg_tiny_bf16.safetensors")).file,
                       load_vgg19_weights(fixture("vgg_tiny_bf16_expected.safetensors")).file) == 0.0);
    CHECK(half_to_float(0x3c00) == 1.0f);
    CHECK(half_to_float(0xc000) == -2.0f);
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
    CHECK(std::isinf(half_to_float(0x7c00)));
    CHECK(std::isnan(half_to_float(0x7e00)));
    for (float v : {0.f, 1.f, -3.5f, 65504.f, 6.1e-5f, 1e-7f}) CHECK(half_to_float(float_to_half(v)) == Approx(v).epsilon(1e-3).margin(1e-7));
}

TEST_CASE("float16 and bfloat16 tensors are written back as they were read, bit for bit", "[weights]") {
    for (const char* name : {"vgg_tiny_f16.safetensors", "vgg_tiny_bf16.safetensors"}) {
        INFO(name);
        const WeightFile in = read_safetensors(fixture(name));
        const std::string written = serialize_safetensors(in);
        const WeightFile back = parse_safetensors(written, "written");
        REQUIRE(back.tensors.size() == in.tensors.size());
        for (const auto& [key, t] : in.tensors) {
            CHECK(t.dtype != "F32");
            CHECK(back.tensors.at(key).dtype == t.dtype);
            CHECK(back.tensors.at(key).values == t.values);  // exact: the values came from that dtype
        }
        // Half the bytes of float32 for the data.
        WeightFile as_f32 = in;
        for (auto& [key, t] : as_f32.tensors) t.dtype = "F32";
        CHECK(serialize_safetensors(as_f32).size() > written.size());
    }
    CHECK(bf16_to_float(float_to_bf16(1.f)) == 1.f);
    CHECK(bf16_to_float(float_to_bf16(1.00390625f)) == 1.f);  // halfway: ties to even
    CHECK(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST_CASE("input conventions: stated in metadata, torchvision by default", "[weights]") {
    const Vgg19Weights caffe = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    CHECK(caffe.convention.stated);
    CHECK(caffe.convention.bgr);
    CHECK(caffe.convention.scale == 255);
    CHECK(caffe.convention.mean[0] == Approx(103.939));
    const Vgg19Weights tv = load_vgg19_weights(fixture("vgg_tiny_zip.pth"));
    CHECK_FALSE(tv.convention.stated);
    CHECK_FALSE(tv.convention.bgr);
    CHECK(tv.convention.scale == 1);
    CHECK(tv.convention.std[2] == Approx(0.225));
    CHECK_THROWS_WITH(convention_from_metadata({{"input_channel_order", "RGB"}}, "f.safetensors"),
                      Catch::Contains("only part"));
    CHECK_THROWS_WITH(convention_from_metadata({{"input_channel_order", "GBR"}, {"input_scale", "1"}, {"input_mean", "0,0,0"},
                                                {"input_std", "1,1,1"}}, "f.safetensors"),
                      Catch::Contains("RGB or BGR"));
    CHECK_THROWS_WITH(parse_triple("1,2", "--mean"), Catch::Contains("three"));
    CHECK_THROWS_WITH(parse_triple("1,x,3", "--mean"), Catch::Contains("not a number"));
}

TEST_CASE("preprocessing an image matches torch under a BGR 0..255 convention, and deprocess inverts it", "[weights][image]") {
    const Vgg19Weights caffe = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    VGG19 net(caffe, Device::cpu(), {"conv1_1"});
    const Image img = load_image(fixture("tiny_rgb.png"));
    CHECK(img.width == 7);
    CHECK(img.height == 5);
    const Tensor x = net.preprocess(image_to_tensor(img));
    const WeightFile expected = read_safetensors(fixture("tiny_rgb_preprocessed.safetensors"));
    const HostTensor& expect = expected.tensors.at("bgr255");
    CHECK(x.shape() == expect.shape);
    CHECK(test::rel_err(x.to_vector<double>(), std::vector<double>(expect.values.begin(), expect.values.end())) < 1e-6);
    CHECK(test::rel_err(net.deprocess(x), image_to_tensor(img)) < 1e-6);
}

TEST_CASE("tiny VGG-19 activations match PyTorch at every tap, max and average pooling", "[weights][vgg]") {
    const WeightFile act = read_safetensors(fixture("vgg_tiny_activations.safetensors"));
    const HostTensor& in = act.tensors.at("input");
    const Tensor x = Tensor::from_vector(in.values, in.shape);
    const std::vector<std::string> taps{"conv1_1", "relu1_1", "pool1", "relu2_1", "relu3_1", "relu4_2", "relu5_1", "pool5"};
    for (const char* file : {"vgg_tiny_zip.pth", "vgg_tiny_legacy.pth", "vgg_tiny.safetensors"})
        for (const char* pool : {"max", "avg"}) {
            INFO(file << ", " << pool << " pooling");
            VGG19 net(load_vgg19_weights(fixture(file)), Device::cpu(), taps, parse_pooling(pool));
            NoGradGuard ng;
            const auto out = net.forward(x);
            REQUIRE(out.size() == taps.size());
            for (const auto& [name, t] : out) {
                const HostTensor& ref = act.tensors.at(std::string(pool) + "." + name);
                INFO("tap " << name);
                REQUIRE(t.shape() == ref.shape);
                const double e = test::rel_err(t.to_vector<double>(), std::vector<double>(ref.values.begin(), ref.values.end()));
                CHECK(e <= 1e-5);
            }
        }
}

TEST_CASE("VGG19 builds only up to the deepest tap and keeps its weights frozen", "[vgg]") {
    const Vgg19Weights w = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    VGG19 net(w, Device::cpu(), {"relu2_1", "conv1_2"});
    CHECK(net.layers().size() == VGG19::layer_index("relu2_1") + 1);
    CHECK(VGG19::layer_names().size() == 37);
    CHECK(VGG19::layer_names()[36] == "pool5");
    for (const auto& [name, m] : net.layers().layers())
        if (auto* c = dynamic_cast<const Conv2d*>(m.get())) {
            CHECK_FALSE(c->weight().requires_grad());
            CHECK_FALSE(c->bias().requires_grad());
        }
    // Gradients reach the image and nothing else.
    Tensor x = Tensor::randn({1, 3, 8, 9}, 3).requires_grad_();
    const auto out = net.forward(x);
    CHECK(out[0].first == "conv1_2");
    sum_squares(out[1].second).backward();
    CHECK(x.grad().defined());
    CHECK_THROWS_WITH(VGG19(w, Device::cpu(), {"relu9_1"}), Catch::Contains("unknown VGG-19 layer"));
    CHECK_THROWS_WITH(VGG19(w, Device::cpu(), {"pool5"}).forward(Tensor::zeros({1, 3, 16, 40})), Catch::Contains("too small"));
    CHECK_THROWS_WITH(VGG19(w, Device::cpu(), {"relu1_1"}).forward(Tensor::zeros({1, 4, 16, 16})), Catch::Contains("3 channels"));
}

TEST_CASE("VGG19 runs each ReLU in its conv's epilogue unless the conv is a tap, and fused equals unfused to the bit",
          "[vgg]") {
    const Vgg19Weights w = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    const std::vector<std::string> taps{"relu1_1", "conv2_1", "relu2_1", "relu3_1"};
    struct Restore { bool was = vgg_fuse_relu(); ~Restore() { set_vgg_fuse_relu(was); } } restore;
    set_vgg_fuse_relu(true);
    const VGG19 fused(w, Device::cpu(), taps);
    set_vgg_fuse_relu(false);
    const VGG19 plain(w, Device::cpu(), taps);
    auto describe = [](const VGG19& n, const std::string& layer) {
        for (const auto& [name, m] : n.layers().layers())
            if (name == layer) return m->describe();
        return std::string("(none)");
    };
    CHECK_THAT(describe(fused, "conv1_1"), Catch::EndsWith("+ ReLU"));
    CHECK(describe(fused, "relu1_1") == "ReLU (in conv1_1's epilogue)");
    CHECK(describe(fused, "conv2_1").find("ReLU") == std::string::npos);  // a tap: its output stays unrectified
    CHECK(describe(fused, "relu2_1") == "ReLU");
    CHECK(describe(plain, "relu1_1") == "ReLU");
    CHECK(describe(plain, "conv3_1").find("ReLU") == std::string::npos);

    Tensor x1 = Tensor::randn({1, 3, 12, 10}, 5).requires_grad_();
    Tensor x2 = x1.detach().clone().requires_grad_();
    const auto a = fused.forward(x1), b = plain.forward(x2);
    REQUIRE(a.size() == taps.size());
    Tensor la = sum_squares(a[0].second), lb = sum_squares(b[0].second);
    for (size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].first);
        CHECK(a[i].first == b[i].first);
        CHECK(test::same_bits(a[i].second, b[i].second));
        if (i > 0) la = add(la, sum_squares(a[i].second)), lb = add(lb, sum_squares(b[i].second));
    }
    la.backward();
    lb.backward();
    CHECK(test::same_bits(x1.grad(), x2.grad()));

    // Memory: the fused backward masks the gradient it is handed in place, so one forward + backward
    // peaks no higher than conv then relu (whose relu backward frees the upstream gradient first).
    auto peak = [&](const VGG19& net) {
        Tensor x = Tensor::randn({1, 3, 48, 40}, 6).requires_grad_();
        cpu_reset_peak();
        const size_t before = cpu_memory_stats().bytes_in_use;
        const auto out = net.forward(x);
        Tensor loss = sum_squares(out[0].second);
        for (size_t i = 1; i < out.size(); ++i) loss = add(loss, sum_squares(out[i].second));
        loss.backward();
        return cpu_memory_stats().peak_bytes_in_use - before;
    };
    const size_t pf = peak(fused), pp = peak(plain);
    INFO("peak bytes: fused " << pf << ", separate " << pp);
    CHECK(pf <= pp);
}

TEST_CASE("safetensors F64 values are read as the nearest floats", "[weights]") {
    const test::TempDir tmp("safetensors_f64");
    const double v[3] = {1.5, -2.25, 0.1};  // 0.1: not a float, rounded to the nearest
    const std::string header = R"({"t":{"dtype":"F64","shape":[3],"data_offsets":[0,24]}})";
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((header.size() >> (8 * i)) & 0xff);  // little-endian length
    bytes += header;
    bytes.append(reinterpret_cast<const char*>(v), sizeof v);  // x86-64: little-endian doubles
    { std::ofstream(tmp / "f64.safetensors", std::ios::binary) << bytes; }
    const WeightFile f = read_safetensors(tmp / "f64.safetensors");
    const std::vector<float> want{1.5f, -2.25f, float(0.1)};
    CHECK(f.tensors.at("t").values == want);
}

TEST_CASE("a file with fewer layers serves shallow taps and refuses deep ones", "[vgg]") {
    Vgg19Weights w = load_vgg19_weights(fixture("vgg_tiny.safetensors"));
    WeightFile cut;
    for (const auto& [k, t] : w.file.tensors)
        if (k.rfind("features.0.", 0) == 0 || k.rfind("features.2.", 0) == 0) cut.tensors[k] = t;
    const Vgg19Weights two = vgg19_weights_from(cut, "cut");
    CHECK(two.layers == 2);
    CHECK_NOTHROW(VGG19(two, Device::cpu(), {"relu1_2"}));
    CHECK_THROWS_WITH(VGG19(two, Device::cpu(), {"relu2_1"}), Catch::Contains("needs conv2_1"));
}

TEST_CASE("the converter's output round-trips through the safetensors reader", "[weights]") {
    const Vgg19Weights src = load_vgg19_weights(fixture("vgg_tiny_legacy.pth"));
    WeightFile f = src.file;
    InputConvention c;
    c.bgr = true;
    c.scale = 255;
    c.mean = {1, 2, 3};
    c.std = {1, 1, 1};
    convention_to_metadata(c, f.metadata);
    const std::string path = "roundtrip_test.safetensors";
    write_safetensors(path, f);
    const Vgg19Weights back = load_vgg19_weights(path);
    std::remove(path.c_str());
    CHECK(max_abs_diff(back.file, src.file) == 0.0);
    CHECK(back.convention.bgr);
    CHECK(back.convention.mean[2] == 3);
    CHECK(serialize_safetensors(f).size() % 8 == 0);
}

TEST_CASE("real VGG-19 from ../shared: every shape, and finite non-trivial activations of chelsea.png", "[weights][shared]") {
    const std::string wpath = test::shared("weights/vgg19-conv.safetensors"), ipath = test::shared("images/chelsea.png");
    if (!test::exists(wpath) || !test::exists(ipath)) {
        std::cout << "NST_SKIPPED: ../shared/weights/vgg19-conv.safetensors or ../shared/images/chelsea.png not present\n";
        return;
    }
    const Vgg19Weights w = load_vgg19_weights(wpath);
    REQUIRE(w.layers == 16);
    const int widths[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};
    int64_t in = 3;
    for (size_t i = 0; i < 16; ++i) {
        const auto& s = w.file.tensors.at("features." + std::to_string(kVgg19Convs[i].index) + ".weight").shape;
        CHECK(s == std::vector<int64_t>{widths[i], in, 3, 3});
        in = widths[i];
    }
    CHECK(w.convention.stated);
    CHECK(w.convention.scale == 255);
    CHECK(w.convention.mean[0] == Approx(123.68));
    // 64 px keeps this quick on the reference CPU kernels.
    VGG19 net(w, Device::cpu(), {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"});
    const Tensor x = net.preprocess(image_to_tensor(resize_longest(load_image(ipath), 64)));
    NoGradGuard ng;
    for (const auto& [name, t] : net.forward(x)) {
        INFO(name);
        const std::vector<float> v = t.to_vector<float>();
        size_t positive = 0;
        double sum = 0;
        for (float f : v) {
            REQUIRE(std::isfinite(f));
            positive += f > 0;
            sum += f;
        }
        CHECK(positive > v.size() / 50);  // a ReLU layer of a real network on a real photo is far from all-zero
        CHECK(sum / double(v.size()) > 1e-3);
    }
}

TEST_CASE("a safetensors file written a tensor at a time reads back as the whole-file writer's, and is never left half-written", "[weights]") {
    const test::TempDir tmp("safetensors_writer");
    const std::string dir = tmp.path.string();
    WeightFile w;
    w.metadata = {{"kind", "test"}, {"n", "3"}};
    w.tensors["a"] = {{2, 3}, {1, 2, 3, 4, 5, 6}};
    w.tensors["b"] = {{5}, {-1, -2, -3, -4, -5}};
    w.tensors["c"] = {{}, {7}};
    const std::string path = dir + "/streamed.safetensors";
    {
        SafetensorsWriter s(path, {{"a", {2, 3}}, {"b", {5}}, {"c", {}}}, w.metadata);
        const std::vector<float>& a = w.tensors["a"].values;
        s.write(a.data(), 4);  // pieces that cross the tensors' bounds
        std::vector<float> rest{5, 6, -1, -2};
        s.write(rest.data(), rest.size());
        std::vector<float> tail{-3, -4, -5, 7};
        s.write(tail.data(), tail.size());
        s.commit();
    }
    CHECK(read_file_bytes(path) == serialize_safetensors(w));  // the same order: the same bytes
    const WeightFile back = read_safetensors(path);
    CHECK(back.metadata == w.metadata);
    CHECK(max_abs_diff(back, w) == 0);

    // Too few values, or too many: an error naming the file, and nothing at the path.
    const std::string bad = dir + "/bad.safetensors";
    {
        SafetensorsWriter s(bad, {{"a", {2, 3}}}, {});
        s.write(w.tensors["a"].values.data(), 5);
        CHECK_THROWS_WITH(s.commit(), Catch::Contains(bad) && Catch::Contains("5 of its 6"));
    }
    {
        SafetensorsWriter s(bad, {{"b", {5}}}, {});
        CHECK_THROWS_WITH(s.write(w.tensors["a"].values.data(), 6), Catch::Contains("more values"));
    }  // destroyed uncommitted
    CHECK_FALSE(std::filesystem::exists(bad));
    for (const auto& e : std::filesystem::directory_iterator(dir))  // no temporary file left behind
        CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
    CHECK_THROWS_WITH(SafetensorsWriter(dir + "/dup.safetensors", {{"a", {1}}, {"a", {1}}}, {}),
                      Catch::Contains("named twice"));
    CHECK_THROWS_WITH(SafetensorsWriter(dir + "/no/such/dir/x.safetensors", {{"a", {1}}}, {}),
                      Catch::Contains("no/such/dir/x.safetensors: cannot write"));
}
