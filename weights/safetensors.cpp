// safetensors reader and writer (contract in safetensors.h).
#include "weights/safetensors.h"

#include <cstdint>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <istream>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace nst::weights {

static_assert(std::endian::native == std::endian::little, "the readers assume a little-endian host");

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own reference limit is 100 MB

size_t dtype_bytes(const std::string& dt) {
    if (dt == "F32") return 4;
    if (dt == "F16" || dt == "BF16") return 2;
    if (dt == "F64") return 8;
    return 0;
}

}  // namespace

bool looks_like_safetensors(const std::string& b) {
    if (b.size() < 10) return false;
    const uint64_t n = read_le(b.data(), 8);
    return n >= 2 && n <= b.size() - 8 && b[8] == '{';
}

namespace {

Error invalid(const std::string& name, const std::string& what) { return Error(name + ": not a valid safetensors file: " + what); }

// The header's JSON (n bytes at json) of a file whose data, after the header, is data_size bytes: every
// entry checked against the data (dtype, shape against its byte range, ranges inside the data and apart).
SafetensorsIndex parse_index(const char* json, uint64_t n, uint64_t data_size, const std::string& name) {
    auto fail = [&](const std::string& what) { return invalid(name, what); };
    nlohmann::json h;
    try {
        h = nlohmann::json::parse(json, json + n);
    } catch (const nlohmann::json::exception& e) {
        throw fail(std::string("header is not JSON (") + e.what() + ")");
    }
    if (!h.is_object()) throw fail("header is not a JSON object");
    SafetensorsIndex ix;
    ix.data_start = 8 + n;
    struct Span { uint64_t begin, end; std::string name; };
    std::vector<Span> spans;
    for (auto it = h.begin(); it != h.end(); ++it) {
        const std::string key = it.key();
        const nlohmann::json& v = it.value();
        if (key == "__metadata__") {
            if (!v.is_object()) throw fail("__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) throw fail("__metadata__ value of '" + m.key() + "' is not a string");
                ix.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string what = "tensor '" + key + "'";
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            throw fail(what + " lacks dtype, shape or data_offsets");
        if (!v["dtype"].is_string()) throw fail(what + ": dtype is not a string");
        const std::string dt = v["dtype"].get<std::string>();
        const size_t eb = dtype_bytes(dt);
        if (!eb) throw fail(what + ": unsupported dtype '" + dt + "' (supported: F32, F16, BF16, F64)");
        std::vector<int64_t> shape;
        if (!v["shape"].is_array()) throw fail(what + ": shape is not an array");
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) throw fail(what + ": shape has a non-integer or negative entry");
            shape.push_back(d.get<int64_t>());
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            throw fail(what + ": data_offsets must be two non-negative integers");
        const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
        if (begin > end || end > data_size)
            throw fail(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                       ") lie outside the data (" + std::to_string(data_size) + " bytes)");
        // The byte range bounds the element count, so this check also refuses absurd shapes before allocating.
        const int64_t numel = checked_numel(shape, name + ": " + what, int64_t(data_size / eb) + 1);
        if (uint64_t(numel) * eb != end - begin)
            throw fail(what + ": shape " + shape_to_string(shape) + " of " + dt + " needs " + std::to_string(numel * eb) +
                       " bytes but data_offsets give " + std::to_string(end - begin));
        spans.push_back({begin, end, key});
        ix.tensors[key] = {dt, shape, numel, begin, end};
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    uint64_t reach = 0;  // furthest end so far, and whose
    std::string reacher;
    for (const Span& s : spans) {
        if (s.end > s.begin && s.begin < reach)
            throw fail("tensors '" + reacher + "' and '" + s.name + "' overlap in the data");
        if (s.end > reach) reach = s.end, reacher = s.name;
    }
    return ix;
}

// The header's length from the first 8 bytes of a file of `size` bytes, checked.
uint64_t header_length(const char* first8, uint64_t size, const std::string& name) {
    if (size < 8) throw invalid(name, size == 0 ? "the file is empty" : "shorter than its 8-byte header length");
    const uint64_t n = read_le(first8, 8);
    if (n > kMaxHeader) throw invalid(name, "header length " + std::to_string(n) + " is absurd (limit 100 MB)");
    if (n > size - 8)
        throw invalid(name, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
                                " bytes): truncated?");
    return n;
}

// count values of dtype dt at p into out (float32). The dtype is decided once, not per value: VGG-19's
// weights are 20 M values.
void convert_values(const std::string& dt, const char* p, int64_t count, float* out) {
    if (dt == "F32") {
        if (count > 0) std::memcpy(out, p, size_t(count) * 4);  // (out may be null when count is 0)
    } else if (dt == "F64") {
        for (int64_t i = 0; i < count; ++i) {
            double d;
            std::memcpy(&d, p + 8 * i, 8);
            out[i] = float(d);
        }
    } else {
        float (*to_float)(uint16_t) = dt == "F16" ? half_to_float : bf16_to_float;
        for (int64_t i = 0; i < count; ++i) {
            uint16_t u;
            std::memcpy(&u, p + 2 * i, 2);
            out[i] = to_float(u);
        }
    }
}

}  // namespace

WeightFile parse_safetensors(const std::string& b, const std::string& name) {
    const uint64_t n = header_length(b.data(), b.size(), name);
    const SafetensorsIndex ix = parse_index(b.data() + 8, n, b.size() - 8 - n, name);
    WeightFile w;
    w.metadata = ix.metadata;
    for (const auto& [key, e] : ix.tensors) {
        HostTensor t;
        t.shape = e.shape;
        t.dtype = e.dtype == "F64" ? "F32" : e.dtype;
        t.values.resize(size_t(e.numel));
        convert_values(e.dtype, b.data() + ix.data_start + e.begin, e.numel, t.values.data());
        w.tensors[key] = std::move(t);
    }
    return w;
}

SafetensorsIndex read_safetensors_index(std::istream& in, const std::string& name) {
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (!in || size < 0) throw Error(name + ": cannot read");
    in.seekg(0);
    char first8[8] = {};
    in.read(first8, std::min<std::streamoff>(8, size));
    if (!in) throw Error(name + ": read error");
    const uint64_t n = header_length(first8, uint64_t(size), name);
    std::string json(size_t(n), '\0');
    in.read(json.data(), std::streamsize(n));
    if (!in) throw Error(name + ": read error");
    return parse_index(json.data(), n, uint64_t(size) - 8 - n, name);
}

void read_safetensors_values(std::istream& in, const SafetensorsIndex& ix, const std::string& tensor, int64_t first,
                             int64_t count, float* out, const std::string& name) {
    const auto it = ix.tensors.find(tensor);
    if (it == ix.tensors.end()) throw Error(name + ": holds no tensor '" + tensor + "'");
    const SafetensorsIndex::Entry& e = it->second;
    if (first < 0 || count < 0 || first > e.numel || count > e.numel - first)
        throw Error(name + ": values [" + std::to_string(first) + ", " + std::to_string(first + count) + ") of tensor '" +
                    tensor + "' lie outside its " + std::to_string(e.numel));
    const size_t eb = dtype_bytes(e.dtype);
    std::vector<char> piece(size_t(std::min<int64_t>(count, 1 << 18)) * eb);
    for (int64_t done = 0; done < count;) {  // in pieces: no second copy of a large tensor
        const int64_t k = std::min<int64_t>(count - done, 1 << 18);
        in.seekg(std::streamoff(ix.data_start + e.begin + uint64_t(first + done) * eb));
        in.read(piece.data(), std::streamsize(size_t(k) * eb));
        if (!in) throw Error(name + ": read error in tensor '" + tensor + "'");
        convert_values(e.dtype, piece.data(), k, out + done);
        done += k;
    }
}

WeightFile read_safetensors(const std::string& path) { return parse_safetensors(read_file_bytes(path), path); }

namespace {

struct HeaderEntry {
    std::string name, dtype;
    const std::vector<int64_t>& shape;
    uint64_t bytes;
};

// The 8-byte length and the JSON header (padded to 8 bytes), the data laid out in the entries' order.
std::string header_bytes(const std::vector<HeaderEntry>& entries, const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json h;
    if (!metadata.empty()) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) m[k] = v;
        h["__metadata__"] = m;
    }
    uint64_t offset = 0;
    for (const HeaderEntry& e : entries) {
        if (h.contains(e.name)) throw Error("safetensors: tensor '" + e.name + "' named twice");
        h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes}}};
        offset += e.bytes;
    }
    std::string header = h.dump();
    while (header.size() % 8) header += ' ';
    std::string out(8, '\0');
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
    return out + header;
}

}  // namespace

std::string serialize_safetensors(const WeightFile& w) {
    std::vector<HeaderEntry> entries;
    for (const auto& [name, t] : w.tensors) {
        if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
            throw Error("safetensors: cannot write tensor '" + name + "' as " + t.dtype + " (F32, F16 or BF16)");
        entries.push_back({name, t.dtype, t.shape, uint64_t(t.values.size()) * (t.dtype == "F32" ? 4 : 2)});
    }
    std::string out = header_bytes(entries, w.metadata);
    for (const auto& [name, t] : w.tensors) {
        if (t.dtype == "F32") {
            out.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * 4);
            continue;
        }
        std::vector<uint16_t> half(t.values.size());
        for (size_t i = 0; i < half.size(); ++i)
            half[i] = t.dtype == "F16" ? float_to_half(t.values[i]) : float_to_bf16(t.values[i]);
        out.append(reinterpret_cast<const char*>(half.data()), half.size() * 2);
    }
    return out;
}

void write_safetensors(const std::string& path, const WeightFile& w) { write_file_atomic(path, serialize_safetensors(w)); }

SafetensorsWriter::SafetensorsWriter(const std::string& path, const std::vector<Entry>& entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), file_(path) {
    std::vector<HeaderEntry> h;
    for (const Entry& e : entries) {
        const int64_t n = checked_numel(e.shape, "safetensors: tensor '" + e.name + "'", INT64_MAX / 4);
        h.push_back({e.name, "F32", e.shape, uint64_t(n) * 4});
        expected_ += uint64_t(n);
    }
    const std::string header = header_bytes(h, metadata);
    file_.append(header.data(), header.size());
}

void SafetensorsWriter::write(const float* values, size_t n) {
    if (written_ + n > expected_) throw Error(path_ + ": more values written than its tensors hold");
    file_.append(reinterpret_cast<const char*>(values), n * sizeof(float));
    written_ += n;
}

void SafetensorsWriter::commit() {
    if (written_ != expected_)
        throw Error(path_ + ": " + std::to_string(written_) + " of its " + std::to_string(expected_) + " values written");
    file_.commit();
}

}  // namespace nst::weights
