// safetensors: read (F32, F16, BF16, F64 into float32; __metadata__ kept) and write (F32).
//
// Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:
// [begin, end)}, "__metadata__": {string: string}}, then the data. Every size and offset read from the
// file is checked against the file before anything is allocated; a bad file gives an nst::Error naming
// the file and what is wrong with it, never a crash.
#pragma once
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "weights/weight_file.h"

namespace nst::weights {

WeightFile read_safetensors(const std::string& path);
WeightFile parse_safetensors(const std::string& bytes, const std::string& name);  // name: for messages

// A file's header alone, read without its data (the same checks as read_safetensors, every range against
// the file's size), and then any values of one tensor: a rank resuming a checkpoint reads only its share.
struct SafetensorsIndex {
    struct Entry {
        std::string dtype;
        std::vector<int64_t> shape;
        int64_t numel;
        uint64_t begin, end;  // bytes, from data_start
    };
    std::map<std::string, Entry> tensors;
    std::map<std::string, std::string> metadata;
    uint64_t data_start = 0;  // the data's offset in the file
};
SafetensorsIndex read_safetensors_index(std::istream& in, const std::string& name);  // name: for messages
// Values [first, first + count) of `tensor`, as float32, into out.
void read_safetensors_values(std::istream& in, const SafetensorsIndex& index, const std::string& tensor, int64_t first,
                             int64_t count, float* out, const std::string& name);

// Serialises float32 tensors (sorted by name) and metadata; header padded to 8 bytes.
std::string serialize_safetensors(const WeightFile& w);
void write_safetensors(const std::string& path, const WeightFile& w);  // atomic

// A file of float32 tensors written one after another, never whole in memory (a checkpoint of a print's
// optimiser state can be gigabytes): the header (each name and shape, in the order given, and the
// metadata) first, then each tensor's values in that order, in pieces of any size; commit() checks that
// every value came and renames the file into place (AtomicFileWriter: nothing half-written remains).
class SafetensorsWriter {
  public:
    struct Entry {
        std::string name;
        std::vector<int64_t> shape;
    };
    SafetensorsWriter(const std::string& path, const std::vector<Entry>& entries,
                      const std::map<std::string, std::string>& metadata);
    void write(const float* values, size_t n);
    void commit();

  private:
    std::string path_;
    AtomicFileWriter file_;
    uint64_t expected_ = 0, written_ = 0;  // values
};

bool looks_like_safetensors(const std::string& bytes);

}  // namespace nst::weights
