// Whole-file reads and atomic writes, for every layer that reads inputs or writes results.
#pragma once
#include <string>

namespace nst {

// The whole file as bytes; throws nst::Error naming the path when it cannot be read.
std::string read_file_bytes(const std::string& path);

// Writes bytes to path atomically: a temporary file beside it, then rename. Nothing half-written remains.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace nst
