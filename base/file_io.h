// Whole-file reads and atomic writes, for every layer that reads inputs or writes results.
#pragma once
#include <cstdio>
#include <string>

namespace nst {

// The whole file as bytes; throws nst::Error naming the path when it cannot be read.
std::string read_file_bytes(const std::string& path);

// Writes bytes to path atomically: a temporary file beside it, then rename. Nothing half-written remains.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The same, written in pieces (a file larger than memory can hold twice, such as a checkpoint of a print's
// optimiser state): append() to a temporary file beside `path`, commit() renames it into place. Destroyed
// uncommitted (an error on the way), the temporary file is removed. Errors name `path`.
class AtomicFileWriter {
  public:
    explicit AtomicFileWriter(const std::string& path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
    void append(const char* bytes, size_t n);
    void commit();

  private:
    std::string path_, tmp_;
    std::FILE* f_ = nullptr;
};

}  // namespace nst
