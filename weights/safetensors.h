// safetensors: read (F32, F16, BF16, F64 into float32; __metadata__ kept) and write (F32).
//
// Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:
// [begin, end)}, "__metadata__": {string: string}}, then the data. Every size and offset read from the
// file is checked against the file before anything is allocated; a bad file gives an nst::Error naming
// the file and what is wrong with it, never a crash.
#pragma once
#include <string>

#include "weights/weight_file.h"

namespace nst::weights {

WeightFile read_safetensors(const std::string& path);
WeightFile parse_safetensors(const std::string& bytes, const std::string& name);  // name: for messages

// Serialises float32 tensors (sorted by name) and metadata; header padded to 8 bytes.
std::string serialize_safetensors(const WeightFile& w);
void write_safetensors(const std::string& path, const WeightFile& w);  // atomic

bool looks_like_safetensors(const std::string& bytes);

}  // namespace nst::weights
