// A small, safe Python pickle reader: enough of the pickle virtual machine (protocols 0-5, as torch.save
// uses them) to read PyTorch state_dicts. It builds plain values (None, bool, int, float, str, bytes,
// tuple, list, dict), keeps unknown classes and calls as opaque objects instead of running anything, and
// turns torch's tensor-rebuild calls into TensorRef values: `_rebuild_tensor_v2` (torch >= 0.4) and the
// older `_rebuild_tensor`, and torch 0.1's `torch.FloatTensor()` + BUILD(storage, offset, size, stride).
// `_rebuild_parameter` unwraps to its tensor.
//
// All values live in an arena owned by the Unpickler (so hostile self-referencing pickles cannot leak),
// and are valid while it lives. Malformed input throws nst::Error naming the file and byte offset.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nst::weights {

struct PyValue {
    enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Object, PersistentId, TensorRef };
    Kind kind = Kind::None;
    int64_t i = 0;        // Bool, Int (an Int wider than 64 bits has i = 0 and its little-endian bytes in s)
    double f = 0;         // Float
    std::string s, s2;    // Str/Bytes: s; Global: module s, name s2
    std::vector<const PyValue*> items;                          // Tuple, List; Object: {callable, args}
    std::vector<std::pair<const PyValue*, const PyValue*>> dict;  // Dict, in insertion order
    // PersistentId: items[0] is the id. TensorRef: storage (a PersistentId), offset, size, stride.
    const PyValue* storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> size, stride;

    const PyValue* get(const std::string& key) const;  // Dict lookup by str key, or null
};

class Unpickler {
  public:
    Unpickler(std::string_view data, std::string name);
    ~Unpickler();
    Unpickler(const Unpickler&) = delete;
    Unpickler& operator=(const Unpickler&) = delete;

    // Runs from the current position to the next STOP and returns the result.
    const PyValue* load();
    size_t position() const { return pos_; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string_view data_;
    std::string name_;
    size_t pos_ = 0;
};

}  // namespace nst::weights
