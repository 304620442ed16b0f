// ONNX files read into plain structs: the graph's nodes in order, its initializers as host arrays, its
// inputs and outputs. Parsing is Debian's libonnx protobuf classes (onnx_proto); nothing here interprets
// the graph (layers/onnx_net does). Every problem is an nst::Error naming the file and, where it lies in
// a node, the node and its op: not a protobuf message, external data, a tensor whose bytes do not match
// its shape, an input used before it is made, an op domain other than ai.onnx, an opset out of range.
// Tensor sizes are checked against the bytes present before anything is allocated, so a hostile file
// costs at most memory proportional to its size (weights/ stays fuzzable: fuzz/fuzz_onnx.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nst::weights {

// The element types the networks use. Floats (FLOAT, DOUBLE, FLOAT16) are held as float; integers
// (INT64, INT32, INT16, INT8, UINT8, UINT16, BOOL) as int64.
enum class OnnxType { Float, Int64, Int32, Int16, Int8, UInt8, UInt16, Bool };
const char* onnx_type_name(OnnxType t);
bool is_float(OnnxType t);

struct OnnxTensor {
    OnnxType type = OnnxType::Float;
    std::vector<int64_t> shape;   // [] is a scalar
    std::vector<float> f;         // float types: the values, row-major
    std::vector<int64_t> i;       // integer types: the values, row-major
    int64_t numel() const;
    bool floating() const { return is_float(type); }
    double at(int64_t k) const { return floating() ? double(f[size_t(k)]) : double(i[size_t(k)]); }
};

struct OnnxAttribute {
    enum class Kind { Int, Ints, Float, Floats, String, Strings, Tensor, Other } kind = Kind::Other;
    int64_t i = 0;
    std::vector<int64_t> ints;
    float f = 0;
    std::vector<float> floats;
    std::string s;
    std::vector<std::string> strings;
    OnnxTensor t;
};

struct OnnxNode {
    std::string name, op;
    std::vector<std::string> inputs, outputs;  // "" for an optional input left out
    std::map<std::string, OnnxAttribute> attributes;

    std::string label() const;  // "node '/contract.0/Conv' (Conv)", for messages
    bool has(const std::string& attr) const { return attributes.count(attr) != 0; }
    int64_t attr_int(const std::string& name, int64_t fallback) const;
    float attr_float(const std::string& name, float fallback) const;
    std::string attr_string(const std::string& name, const std::string& fallback) const;
    std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback) const;
    std::string input(size_t k) const { return k < inputs.size() ? inputs[k] : std::string(); }
};

struct OnnxValueInfo {
    std::string name;
    OnnxType type = OnnxType::Float;
    std::vector<int64_t> dims;  // -1 where the file names the dimension (e.g. "h") or leaves it open
};

struct OnnxModel {
    std::string file;        // for messages
    int64_t opset = 0;       // of the default domain (ai.onnx)
    std::string producer;    // e.g. "pytorch 2.4.1"
    std::vector<OnnxValueInfo> inputs, outputs;  // graph inputs exclude initializers
    std::map<std::string, OnnxTensor> initializers;
    std::vector<OnnxNode> nodes;                 // topologically ordered (checked)
};

// The opsets whose operator definitions this reader's users implement.
constexpr int64_t kOnnxOpsetMin = 7, kOnnxOpsetMax = 21;

OnnxModel parse_onnx(const std::string& bytes, const std::string& name);  // name: for messages
OnnxModel read_onnx(const std::string& path);

}  // namespace nst::weights
