// Hostile weight files: every malformed input gives an nst::Error with a useful message, never a crash,
// a hang or a huge allocation. Built and run under ASan+UBSan (tests/CMakeLists.txt), where a memory
// error or a leak fails the test. Uses only weights/ (no tensors, no GPU).
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "base/error.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "weights/onnx_model.h"
#include "weights/pickle.h"
#include "weights/safetensors.h"
#include "weights/torch_checkpoint.h"
#include "weights/vgg19_weights.h"

using namespace nst;
using namespace nst::weights;

namespace {

std::string u64le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
    return s;
}
std::string st(const std::string& header, const std::string& data = "") { return u64le(header.size()) + header + data; }

// Expects parse(bytes) to throw nst::Error whose message contains `fragment`.
template <class Parse> void refuses(Parse parse, const std::string& bytes, const std::string& fragment) {
    try {
        parse(bytes);
    } catch (const Error& e) {
        INFO("message: " << e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
        return;
    }
    FAIL("accepted a hostile file; expected an error containing '" << fragment << "'");
}

auto safetensors = [](const std::string& b) { return parse_safetensors(b, "evil.safetensors"); };
auto checkpoint = [](const std::string& b) { return parse_torch_checkpoint(b, "evil.pth"); };
auto vgg = [](const std::string& b) { return vgg19_weights_from(parse_safetensors(b, "evil.safetensors"), "evil.safetensors"); };

std::string f32(std::initializer_list<float> v) {
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), std::data(v), s.size());
    return s;
}

}  // namespace

TEST_CASE("safetensors: empty, truncated, wrong magic, bad header lengths", "[hostile]") {
    refuses(safetensors, "", "empty");
    refuses(safetensors, "abc", "shorter");
    refuses(safetensors, u64le(1000) + "{}", "past the end");
    refuses(safetensors, u64le(uint64_t(1) << 60) + "{}", "absurd");
    refuses(safetensors, st("not json"), "not JSON");
    refuses(safetensors, st("[1,2]"), "not a JSON object");
    refuses(checkpoint, "GIF89a....", "not a PyTorch checkpoint");
}

TEST_CASE("safetensors: dtype, shape and offset lies", "[hostile]") {
    refuses(safetensors, st(R"({"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "x"), "unsupported dtype");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"), "outside the data");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32({1, 2})), "needs 12 bytes");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32({1})), "negative");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", f32({1})), "absurdly large");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", f32({1, 2, 3})), "outside");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[1]}})", f32({1})), "lacks");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":"x","data_offsets":[0,4]}})", f32({1})), "shape");
    refuses(safetensors, st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", f32({1})), "data_offsets");
    refuses(safetensors,
            st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               f32({1, 2, 3})),
            "overlap");
    refuses(safetensors, st(R"({"__metadata__":{"k":1}})"), "not a string");
}

TEST_CASE("VGG loader: NaN/Inf, wrong shapes, missing layers, foreign keys", "[hostile]") {
    const std::string w = R"("features.0.weight":{"dtype":"F32","shape":[1,3,3,3],"data_offsets":[0,108]})";
    const std::string good = std::string(108, '\0');
    refuses(vgg, st("{" + w + R"(,"features.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[108,112]}})", good + f32({NAN})), "NaN");
    refuses(vgg, st("{" + w + R"(,"features.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[108,112]}})", good + f32({INFINITY})), "NaN or Inf");
    refuses(vgg, st("{" + w + R"(,"features.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[108,116]}})", good + f32({0, 0})), "bias has shape");
    refuses(vgg, st(R"({"features.0.weight":{"dtype":"F32","shape":[1,2,3,3],"data_offsets":[0,72]},"features.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[72,76]}})",
                    std::string(72, '\0') + f32({0})),
            "expected [K,3,3,3]");
    refuses(vgg, st("{" + w + "}", good), "weight but no bias");
    refuses(vgg, st("{" + w + R"(,"features.0.bias":{"dtype":"F32","shape":[1],"data_offsets":[108,112]},)" +
                    R"("features.5.weight":{"dtype":"F32","shape":[1,1,3,3],"data_offsets":[112,148]},"features.5.bias":{"dtype":"F32","shape":[1],"data_offsets":[148,152]}})",
                    good + f32({0}) + std::string(36, '\0') + f32({0})),
            "conv1_2 is missing");
    refuses(vgg, st(R"({"features.1.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32({0})), "not a layer of VGG-19");
    refuses(vgg, st(R"({"classifier.0.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32({0})), "no VGG-19 convolution");
}

TEST_CASE("pickles: truncated, underflow, unknown opcodes, undefined memo, huge lengths, cycles", "[hostile]") {
    auto load = [](const std::string& b) {
        Unpickler u(b, "evil.pkl");
        return u.load();
    };
    refuses(load, "\x80\x02", "end of data");
    refuses(load, "\x80\x02.", "malformed stack");
    refuses(load, "\x80\x02R.", "underflow");
    refuses(load, "\x80\x02\xff", "unsupported opcode 0xff");
    refuses(load, "\x80\x02h\x07.", "memo key 7");
    refuses(load, std::string("\x80\x02X\xff\xff\xff\x7f", 8) + "abc", "end of data");
    refuses(load, std::string("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff", 11), "end of data");
    refuses(load, "\x80\x02K\x01K\x01K\x02s.", "non-dict");
    refuses(load, "\x80\x02(K\x01u.", "underflow");
    // A list that contains itself parses (values live in the Unpickler's arena: no leak under ASan).
    const std::string cyclic("\x80\x02]q\x00h\x00" "a.", 9);
    Unpickler u(cyclic, "cycle.pkl");
    const PyValue* v = u.load();
    REQUIRE(v->kind == PyValue::Kind::List);
    CHECK(v->items.at(0) == v);
}

TEST_CASE("torch checkpoints: a plain pickle, no tensors, broken zip", "[hostile]") {
    refuses(checkpoint, std::string("\x80\x02}q\x00.", 6), "not a PyTorch checkpoint");  // a dict, but no torch magic number
    refuses(checkpoint, "PK\x03\x04garbage", "broken zip");
    std::string zip = read_file_bytes(test::fixture("vgg_tiny_zip.pth"));
    refuses(checkpoint, zip.substr(0, zip.size() / 2), "zip");
    std::string legacy = read_file_bytes(test::fixture("vgg_tiny_legacy.pth"));
    refuses(checkpoint, legacy.substr(0, legacy.size() - 100), "past the end of the file");
}

TEST_CASE("every fixture, truncated at many points and with random bytes flipped, never crashes", "[hostile][fuzz]") {
    std::mt19937 rng(7);
    int refused = 0, accepted = 0;
    for (const char* name : {"vgg_tiny_zip.pth", "vgg_tiny_legacy.pth", "vgg_tiny_old_rebuild.pth", "vgg_tiny.safetensors",
                             "vgg_tiny_f16.safetensors"}) {
        const std::string bytes = read_file_bytes(test::fixture(name));
        auto attempt = [&](const std::string& b) {
            try {
                const WeightFile w = looks_like_safetensors(b) ? parse_safetensors(b, name) : parse_torch_checkpoint(b, name);
                vgg19_weights_from(w, name);
                ++accepted;
            } catch (const Error&) {
                ++refused;
            }
        };
        for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 150) attempt(bytes.substr(0, cut));
        for (int trial = 0; trial < 300; ++trial) {
            std::string b = bytes;
            const int flips = 1 + int(rng() % 4);
            // Flip bytes mostly in the structure at the front (headers, pickles), sometimes anywhere.
            for (int f = 0; f < flips; ++f) {
                const size_t limit = (rng() % 4 == 0) ? b.size() : std::min<size_t>(b.size(), 4096);
                b[rng() % limit] = char(rng());
            }
            attempt(b);
        }
    }
    INFO("refused " << refused << ", accepted " << accepted);
    CHECK(refused > 500);  // truncations must all be refused; most flips too
}

#ifdef NST_HAVE_ONNX
TEST_CASE("ONNX files truncated at many points and with random bytes flipped never crash", "[hostile][fuzz]") {
    std::mt19937 rng(11);
    int refused = 0, accepted = 0;
    for (const char* name : {"onnx_tiny_multistyle.onnx", "onnx_tiny_instnorm.onnx"}) {
        const std::string bytes = read_file_bytes(test::fixture(name));
        auto attempt = [&](const std::string& b) {
            try {
                const OnnxModel m = parse_onnx(b, name);
                (void)m;
                ++accepted;
            } catch (const Error&) {
                ++refused;
            }
        };
        for (size_t cut = 1; cut < bytes.size(); cut += 1 + bytes.size() / 150) attempt(bytes.substr(0, cut));
        for (int trial = 0; trial < 300; ++trial) {
            std::string b = bytes;
            const int flips = 1 + int(rng() % 4);
            for (int f = 0; f < flips; ++f) b[rng() % b.size()] = char(rng());
            attempt(b);
        }
    }
    INFO("refused " << refused << ", accepted " << accepted);
    CHECK(refused > 250);  // a protobuf cut mid-field does not parse; some flips land in weights and parse
}
#endif  // NST_HAVE_ONNX
