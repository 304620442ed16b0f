// PyTorch checkpoint reader (contract in torch_checkpoint.h). Format references: torch/serialization.py
// (_save, _legacy_save, _load, _legacy_load).
#include "weights/torch_checkpoint.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>

#include "base/error.h"
#include "weights/pickle.h"
#include "weights/zip_reader.h"

namespace nst::weights {

namespace {

using K = PyValue::Kind;

enum class Elem { F32, F64, F16, BF16, Int };

// Element type and size from the storage class name torch pickles ("FloatStorage", ...).
std::pair<Elem, size_t> storage_type(const PyValue* t, const std::string& name) {
    if (!t || t->kind != K::Global) throw Error(name + ": storage type is not a class reference");
    const std::string& n = t->s2;
    if (n == "FloatStorage") return {Elem::F32, 4};
    if (n == "DoubleStorage") return {Elem::F64, 8};
    if (n == "HalfStorage") return {Elem::F16, 2};
    if (n == "BFloat16Storage") return {Elem::BF16, 2};
    if (n == "LongStorage") return {Elem::Int, 8};
    if (n == "IntStorage") return {Elem::Int, 4};
    if (n == "ShortStorage") return {Elem::Int, 2};
    if (n == "CharStorage" || n == "ByteStorage" || n == "BoolStorage") return {Elem::Int, 1};
    throw Error(name + ": unsupported storage type '" + t->s + "." + n + "'");
}

struct Storage {
    Elem elem;
    size_t elem_size;
    std::string_view bytes;
};

// The persistent id of a storage: ('storage', type, key, location, numel[, view_metadata]).
struct StorageId {
    std::string key;
    Elem elem;
    size_t elem_size;
};
StorageId parse_pid(const PyValue* pid, const std::string& name) {
    const PyValue* t = pid->items.empty() ? nullptr : pid->items[0];
    if (!t || t->kind != K::Tuple || t->items.size() < 5 || t->items[0]->kind != K::Str || t->items[0]->s != "storage")
        throw Error(name + ": unexpected persistent id (not a torch storage)");
    const PyValue* key = t->items[2];
    if (key->kind != K::Str) throw Error(name + ": storage key is not a string");
    auto [elem, size] = storage_type(t->items[1], name);
    if (t->items.size() >= 6 && t->items[5]->kind != K::None)
        throw Error(name + ": storage views (pre-0.4 checkpoints) are not supported");
    return {key->s, elem, size};
}

float element(const Storage& s, uint64_t i) {
    const char* p = s.bytes.data() + i * s.elem_size;
    switch (s.elem) {
        case Elem::F32: { float v; std::memcpy(&v, p, 4); return v; }
        case Elem::F64: { double v; std::memcpy(&v, p, 8); return float(v); }
        case Elem::F16: { uint16_t v; std::memcpy(&v, p, 2); return half_to_float(v); }
        case Elem::BF16: { uint16_t v; std::memcpy(&v, p, 2); return bf16_to_float(v); }
        case Elem::Int: return 0;
    }
    return 0;
}

// Copies a (possibly strided) view of a storage into a dense float tensor, checking every bound.
HostTensor materialize(const PyValue* ref, const Storage& s, const std::string& what) {
    HostTensor t;
    t.shape = ref->size;
    t.dtype = s.elem == Elem::F16 ? "F16" : s.elem == Elem::BF16 ? "BF16" : "F32";
    const uint64_t storage_numel = s.bytes.size() / s.elem_size;
    const int64_t numel = checked_numel(t.shape, what, int64_t(storage_numel) + 1);
    if (ref->offset < 0) throw Error(what + ": negative storage offset");
    if (numel == 0) return t;
    uint64_t last = uint64_t(ref->offset);
    for (size_t d = 0; d < t.shape.size(); ++d) {
        if (ref->stride[d] < 0) throw Error(what + ": negative stride");
        if (ref->stride[d] > int64_t(storage_numel)) throw Error(what + ": stride past the end of its storage");
        last += uint64_t(t.shape[d] - 1) * uint64_t(ref->stride[d]);
    }
    if (last >= storage_numel)
        throw Error(what + ": shape " + shape_to_string(t.shape) + " reaches element " + std::to_string(last) +
                    " of a storage holding " + std::to_string(storage_numel) + " (truncated or corrupt file)");
    t.values.resize(size_t(numel));
    std::vector<int64_t> idx(t.shape.size(), 0);
    for (int64_t i = 0; i < numel; ++i) {
        uint64_t off = uint64_t(ref->offset);
        for (size_t d = 0; d < idx.size(); ++d) off += uint64_t(idx[d]) * uint64_t(ref->stride[d]);
        t.values[size_t(i)] = element(s, off);
        for (size_t d = idx.size(); d-- > 0;) {  // row-major increment
            if (++idx[d] < t.shape[d]) break;
            idx[d] = 0;
        }
    }
    return t;
}

// The state_dict inside the unpickled root: the root itself, or a common wrapper's entry.
const PyValue* state_dict_of(const PyValue* root, const std::string& name) {
    if (!root || root->kind != K::Dict) throw Error(name + ": the checkpoint does not hold a dict (state_dict)");
    for (const char* wrapper : {"state_dict", "model", "model_state_dict"})
        if (const PyValue* inner = root->get(wrapper); inner && inner->kind == K::Dict) return inner;
    return root;
}

// Walks the state_dict and materialises each float tensor; `storage_of` finds a storage's bytes by key.
WeightFile collect(const PyValue* sd, const std::string& name,
                   const std::function<Storage(const StorageId&)>& storage_of) {
    WeightFile w;
    for (const auto& [k, v] : sd->dict) {
        if (k->kind != K::Str) continue;
        if (v->kind != K::TensorRef) continue;  // e.g. a version number stored beside the weights
        const StorageId id = parse_pid(v->storage, name);
        if (id.elem == Elem::Int) continue;
        const std::string what = name + ": tensor '" + k->s + "'";
        w.tensors[k->s] = materialize(v, storage_of(id), what);
    }
    if (w.tensors.empty()) throw Error(name + ": no float tensors found in the checkpoint");
    return w;
}

WeightFile parse_zip(const std::string& bytes, const std::string& name) {
    ZipArchive zip(bytes, name);
    std::string prefix;
    for (const std::string& e : zip.names()) {
        const size_t slash = e.find('/');
        if (slash != std::string::npos && e.substr(slash) == "/data.pkl") {
            prefix = e.substr(0, slash);
            break;
        }
    }
    if (prefix.empty()) throw Error(name + ": zip archive without <name>/data.pkl: not a torch checkpoint");
    if (zip.contains(prefix + "/byteorder") && zip.read(prefix + "/byteorder") != "little")
        throw Error(name + ": big-endian checkpoints are not supported");
    Unpickler up(zip.read(prefix + "/data.pkl"), name + " (data.pkl)");
    const PyValue* sd = state_dict_of(up.load(), name);
    return collect(sd, name, [&](const StorageId& id) {
        const std::string entry = prefix + "/data/" + id.key;
        if (!zip.contains(entry)) throw Error(name + ": storage '" + id.key + "' missing from the archive");
        return Storage{id.elem, id.elem_size, zip.read(entry)};
    });
}

WeightFile parse_legacy(const std::string& bytes, const std::string& name) {
    std::string_view rest(bytes);
    size_t pos = 0;
    auto next_pickle = [&](const char* what) {
        auto up = std::make_unique<Unpickler>(rest.substr(pos), name + " (" + what + ")");
        return up;
    };
    {
        auto magic = next_pickle("magic number");
        const PyValue* v = magic->load();
        // torch's magic number 0x1950a86a20f9469cfc6c is wider than 64 bits: compare its raw bytes.
        if (v->kind != K::Int || v->s != std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10))
            throw Error(name + ": a pickle, but not a PyTorch checkpoint (no torch magic number)");
        pos += magic->position();
    }
    auto proto = next_pickle("protocol version");
    const PyValue* pv = proto->load();
    if (pv->kind != K::Int || pv->i != 1001) throw Error(name + ": unsupported legacy protocol version");
    pos += proto->position();
    auto info = next_pickle("system info");
    const PyValue* si = info->load();
    pos += info->position();
    if (const PyValue* le = si->get("little_endian"); le && le->kind == K::Bool && !le->i)
        throw Error(name + ": big-endian checkpoints are not supported");
    Unpickler main(rest.substr(pos), name);
    const PyValue* sd = state_dict_of(main.load(), name);
    pos += main.position();
    auto keys_up = next_pickle("storage keys");
    const PyValue* keys = keys_up->load();
    pos += keys_up->position();
    if (keys->kind != K::List) throw Error(name + ": storage key list is not a list");

    // Storages follow in key order, each an int64 element count and the data. Their element sizes come
    // from the persistent ids in the state_dict, so gather those first.
    std::map<std::string, StorageId> ids;
    for (const auto& [k, v] : sd->dict)
        if (v->kind == K::TensorRef) {
            StorageId id = parse_pid(v->storage, name);
            ids.emplace(id.key, id);
        }
    std::map<std::string, Storage> storages;
    for (const PyValue* key : keys->items) {
        if (key->kind != K::Str) throw Error(name + ": storage key is not a string");
        auto it = ids.find(key->s);
        if (it == ids.end()) throw Error(name + ": storage '" + key->s + "' is used by no tensor");
        if (bytes.size() - pos < 8) throw Error(name + ": truncated before storage '" + key->s + "'");
        const uint64_t n = read_le(bytes.data() + pos, 8);
        pos += 8;
        const size_t es = it->second.elem_size;
        if (n > (bytes.size() - pos) / es)
            throw Error(name + ": storage '" + key->s + "' claims " + std::to_string(n) + " elements, past the end of the file");
        storages[key->s] = Storage{it->second.elem, es, std::string_view(bytes).substr(pos, size_t(n * es))};
        pos += size_t(n * es);
    }
    return collect(sd, name, [&](const StorageId& id) {
        auto it = storages.find(id.key);
        if (it == storages.end()) throw Error(name + ": storage '" + id.key + "' missing from the file");
        return it->second;
    });
}

}  // namespace

WeightFile parse_torch_checkpoint(const std::string& bytes, const std::string& name) {
    if (bytes.empty()) throw Error(name + ": the file is empty");
    if (looks_like_zip(bytes)) return parse_zip(bytes, name);
    if (uint8_t(bytes[0]) == 0x80) return parse_legacy(bytes, name);
    throw Error(name + ": not a PyTorch checkpoint (neither a zip archive nor a pickle)");
}

WeightFile read_torch_checkpoint(const std::string& path) { return parse_torch_checkpoint(read_file_bytes(path), path); }

}  // namespace nst::weights
