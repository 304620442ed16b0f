// ONNX files into plain structs (contract in onnx_model.h).
#include "weights/onnx_model.h"

#ifdef NST_HAVE_ONNX
#include <onnx/onnx_pb.h>
#endif

#include <cstring>
#include <set>

#include "base/error.h"
#include "base/file_io.h"
#include "weights/weight_file.h"

namespace nst::weights {

#ifdef NST_HAVE_ONNX
namespace {

constexpr int64_t kMaxElements = int64_t(1) << 34;  // beyond any file protobuf can hold (2 GiB)

struct TypeInfo {
    OnnxType type;
    int bytes;  // per element in raw_data
};

// ONNX TensorProto.DataType numbers to ours; false for types no network here uses (strings, complex, ...).
bool type_of(int dt, TypeInfo& out, bool& half, bool& dbl) {
    half = dt == onnx::TensorProto::FLOAT16;
    dbl = dt == onnx::TensorProto::DOUBLE;
    switch (dt) {
        case onnx::TensorProto::FLOAT: out = {OnnxType::Float, 4}; return true;
        case onnx::TensorProto::DOUBLE: out = {OnnxType::Float, 8}; return true;
        case onnx::TensorProto::FLOAT16: out = {OnnxType::Float, 2}; return true;
        case onnx::TensorProto::INT64: out = {OnnxType::Int64, 8}; return true;
        case onnx::TensorProto::INT32: out = {OnnxType::Int32, 4}; return true;
        case onnx::TensorProto::INT16: out = {OnnxType::Int16, 2}; return true;
        case onnx::TensorProto::INT8: out = {OnnxType::Int8, 1}; return true;
        case onnx::TensorProto::UINT8: out = {OnnxType::UInt8, 1}; return true;
        case onnx::TensorProto::UINT16: out = {OnnxType::UInt16, 2}; return true;
        case onnx::TensorProto::BOOL: out = {OnnxType::Bool, 1}; return true;
        default: return false;
    }
}

// One element of `bytes` little-endian raw data as the element type says.
int64_t raw_int(const char* p, const TypeInfo& t) {
    const uint64_t u = read_le(p, t.bytes);
    switch (t.type) {
        case OnnxType::Int32: return int32_t(uint32_t(u));
        case OnnxType::Int16: return int16_t(uint16_t(u));
        case OnnxType::Int8: return int8_t(uint8_t(u));
        default: return int64_t(u);  // Int64 (two's complement), UInt8, UInt16, Bool
    }
}

OnnxTensor convert_tensor(const onnx::TensorProto& p, const std::string& what) {
    if (p.data_location() == onnx::TensorProto::EXTERNAL || p.external_data_size() > 0)
        throw Error(what + ": its data lies in an external file, which is not read (save the model with its weights inside)");
    if (p.has_segment()) throw Error(what + ": segmented tensors are not read");
    TypeInfo t{};
    bool half = false, dbl = false;
    if (!type_of(p.data_type(), t, half, dbl))
        throw Error(what + ": element type " + std::to_string(p.data_type()) + " is not read (float, double, float16 and integers are)");
    OnnxTensor out;
    out.type = t.type;
    out.shape.assign(p.dims().begin(), p.dims().end());
    const int64_t n = checked_numel(out.shape, what, kMaxElements);
    const std::string& raw = p.raw_data();
    const bool floating = is_float(t.type);
    if (!raw.empty() || n == 0) {
        if (int64_t(raw.size()) != n * t.bytes)
            throw Error(what + ": shape " + shape_to_string(out.shape) + " needs " + std::to_string(n * t.bytes) +
                        " bytes of data, the file has " + std::to_string(raw.size()));
        for (int64_t k = 0; k < n; ++k) {
            const char* e = raw.data() + k * t.bytes;
            if (!floating) {
                out.i.push_back(raw_int(e, t));
            } else if (half) {
                out.f.push_back(half_to_float(uint16_t(read_le(e, 2))));
            } else if (dbl) {
                const uint64_t u = read_le(e, 8);
                double d;
                std::memcpy(&d, &u, 8);
                out.f.push_back(float(d));
            } else {
                const uint32_t u = uint32_t(read_le(e, 4));
                float v;
                std::memcpy(&v, &u, 4);
                out.f.push_back(v);
            }
        }
        return out;
    }
    // Typed fields: FLOAT in float_data, DOUBLE in double_data, INT64 in int64_data, the narrower
    // integers and FLOAT16's bit patterns in int32_data.
    int64_t have = 0;
    if (t.type == OnnxType::Float && !half && !dbl) have = p.float_data_size();
    else if (dbl) have = p.double_data_size();
    else if (t.type == OnnxType::Int64) have = p.int64_data_size();
    else have = p.int32_data_size();
    if (have != n)
        throw Error(what + ": shape " + shape_to_string(out.shape) + " has " + std::to_string(n) + " elements, the file holds " +
                    std::to_string(have));
    if (t.type == OnnxType::Float && !half && !dbl) out.f.assign(p.float_data().begin(), p.float_data().end());
    else if (dbl) for (double d : p.double_data()) out.f.push_back(float(d));
    else if (half) for (int32_t h : p.int32_data()) out.f.push_back(half_to_float(uint16_t(h)));
    else if (t.type == OnnxType::Int64) out.i.assign(p.int64_data().begin(), p.int64_data().end());
    else out.i.assign(p.int32_data().begin(), p.int32_data().end());
    return out;
}

OnnxAttribute convert_attribute(const onnx::AttributeProto& a, const std::string& what) {
    OnnxAttribute out;
    using A = onnx::AttributeProto;
    switch (a.type()) {
        case A::INT: out.kind = OnnxAttribute::Kind::Int, out.i = a.i(); break;
        case A::INTS: out.kind = OnnxAttribute::Kind::Ints, out.ints.assign(a.ints().begin(), a.ints().end()); break;
        case A::FLOAT: out.kind = OnnxAttribute::Kind::Float, out.f = a.f(); break;
        case A::FLOATS: out.kind = OnnxAttribute::Kind::Floats, out.floats.assign(a.floats().begin(), a.floats().end()); break;
        case A::STRING: out.kind = OnnxAttribute::Kind::String, out.s = a.s(); break;
        case A::STRINGS: out.kind = OnnxAttribute::Kind::Strings, out.strings.assign(a.strings().begin(), a.strings().end()); break;
        case A::TENSOR: out.kind = OnnxAttribute::Kind::Tensor, out.t = convert_tensor(a.t(), what + " attribute '" + a.name() + "'"); break;
        default: out.kind = OnnxAttribute::Kind::Other; break;  // graphs, sparse tensors: no op here takes them
    }
    return out;
}

OnnxValueInfo convert_value_info(const onnx::ValueInfoProto& v, const std::string& what) {
    OnnxValueInfo out;
    out.name = v.name();
    if (!v.type().has_tensor_type()) throw Error(what + " '" + v.name() + "': not a tensor");
    TypeInfo t{};
    bool half = false, dbl = false;
    const int dt = v.type().tensor_type().elem_type();
    if (!type_of(dt, t, half, dbl)) throw Error(what + " '" + v.name() + "': element type " + std::to_string(dt) + " is not supported");
    out.type = t.type;
    for (const auto& d : v.type().tensor_type().shape().dim()) out.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    return out;
}

}  // namespace
#endif

const char* onnx_type_name(OnnxType t) {
    switch (t) {
        case OnnxType::Float: return "float";
        case OnnxType::Int64: return "int64";
        case OnnxType::Int32: return "int32";
        case OnnxType::Int16: return "int16";
        case OnnxType::Int8: return "int8";
        case OnnxType::UInt8: return "uint8";
        case OnnxType::UInt16: return "uint16";
        case OnnxType::Bool: return "bool";
    }
    return "?";
}

bool is_float(OnnxType t) { return t == OnnxType::Float; }

int64_t OnnxTensor::numel() const { return int64_t(floating() ? f.size() : i.size()); }

std::string OnnxNode::label() const { return "node '" + name + "' (" + op + ")"; }

int64_t OnnxNode::attr_int(const std::string& n, int64_t fallback) const {
    auto it = attributes.find(n);
    if (it == attributes.end()) return fallback;
    if (it->second.kind != OnnxAttribute::Kind::Int) throw Error(label() + ": attribute '" + n + "' is not an integer");
    return it->second.i;
}

float OnnxNode::attr_float(const std::string& n, float fallback) const {
    auto it = attributes.find(n);
    if (it == attributes.end()) return fallback;
    if (it->second.kind != OnnxAttribute::Kind::Float) throw Error(label() + ": attribute '" + n + "' is not a float");
    return it->second.f;
}

std::string OnnxNode::attr_string(const std::string& n, const std::string& fallback) const {
    auto it = attributes.find(n);
    if (it == attributes.end()) return fallback;
    if (it->second.kind != OnnxAttribute::Kind::String) throw Error(label() + ": attribute '" + n + "' is not a string");
    return it->second.s;
}

std::vector<int64_t> OnnxNode::attr_ints(const std::string& n, std::vector<int64_t> fallback) const {
    auto it = attributes.find(n);
    if (it == attributes.end()) return fallback;
    if (it->second.kind != OnnxAttribute::Kind::Ints) throw Error(label() + ": attribute '" + n + "' is not a list of integers");
    return it->second.ints;
}

#ifdef NST_HAVE_ONNX
OnnxModel parse_onnx(const std::string& bytes, const std::string& name) {
    onnx::ModelProto m;
    if (bytes.empty() || !m.ParseFromString(bytes))
        throw Error(name + ": not an ONNX model (the protobuf message does not parse: truncated, or another kind of file)");
    if (!m.has_graph()) throw Error(name + ": an ONNX model without a graph");
    OnnxModel out;
    out.file = name;
    out.producer = m.producer_name() + (m.producer_version().empty() ? "" : " " + m.producer_version());
    for (const auto& o : m.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") out.opset = o.version();
    if (m.opset_import_size() == 0) out.opset = 1;  // the ONNX rule for files without opset_import
    if (out.opset < kOnnxOpsetMin || out.opset > kOnnxOpsetMax)
        throw Error(name + ": opset " + std::to_string(out.opset) + " is not supported (" + std::to_string(kOnnxOpsetMin) + ".." +
                    std::to_string(kOnnxOpsetMax) + ")");
    const onnx::GraphProto& g = m.graph();
    std::set<std::string> defined;
    for (const auto& t : g.initializer()) {
        if (t.name().empty()) throw Error(name + ": an initializer without a name");
        if (!defined.insert(t.name()).second) throw Error(name + ": initializer '" + t.name() + "' appears twice");
        out.initializers[t.name()] = convert_tensor(t, name + ": initializer '" + t.name() + "'");
    }
    for (const auto& v : g.input()) {
        if (out.initializers.count(v.name())) continue;  // older exporters list initializers as inputs too
        out.inputs.push_back(convert_value_info(v, name + ": input"));
        if (!defined.insert(v.name()).second) throw Error(name + ": input '" + v.name() + "' appears twice");
    }
    for (const auto& n : g.node()) {
        OnnxNode node;
        node.name = n.name().empty() ? (n.output_size() ? n.output(0) : std::string("?")) : n.name();
        node.op = n.op_type();
        if (!n.domain().empty() && n.domain() != "ai.onnx")
            throw Error(name + ": " + node.label() + " is in domain '" + n.domain() + "'; only the standard ONNX operators are supported");
        for (const auto& a : n.attribute())
            node.attributes[a.name()] = convert_attribute(a, name + ": " + node.label());
        for (const auto& in : n.input()) {
            if (!in.empty() && !defined.count(in))
                throw Error(name + ": " + node.label() + " reads '" + in + "', which no earlier node, input or initializer makes");
            node.inputs.push_back(in);
        }
        if (n.output_size() == 0 || n.output(0).empty()) throw Error(name + ": " + node.label() + " makes no output");
        for (const auto& o : n.output()) {
            if (!o.empty() && !defined.insert(o).second)
                throw Error(name + ": " + node.label() + " makes '" + o + "', which is already defined");
            node.outputs.push_back(o);
        }
        out.nodes.push_back(std::move(node));
    }
    for (const auto& v : g.output()) {
        if (!defined.count(v.name())) throw Error(name + ": output '" + v.name() + "' is never made");
        out.outputs.push_back(convert_value_info(v, name + ": output"));
    }
    if (out.outputs.empty()) throw Error(name + ": the graph has no output");
    return out;
}

#else
OnnxModel parse_onnx(const std::string&, const std::string& name) {
    throw Error(name + ": this build reads no ONNX files (configured with -DNST_ONNX=OFF, without libonnx-dev and libprotobuf-dev)");
}
#endif

OnnxModel read_onnx(const std::string& path) { return parse_onnx(read_file_bytes(path), path); }

}  // namespace nst::weights
