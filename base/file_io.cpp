// Whole-file reads and atomic writes (contract in file_io.h).
#include "base/file_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <sstream>

#include <unistd.h>

#include "base/error.h"

namespace nst {

std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
    AtomicFileWriter w(path);
    w.append(bytes.data(), bytes.size());
    w.commit();
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path), tmp_(path + ".tmp-" + std::to_string(::getpid())) {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
}

AtomicFileWriter::~AtomicFileWriter() {
    if (!f_) return;
    std::fclose(f_);
    std::remove(tmp_.c_str());
}

void AtomicFileWriter::append(const char* bytes, size_t n) {
    if (!f_) throw Error(path_ + ": written after it was finished");
    if (n > 0 && std::fwrite(bytes, 1, n, f_) != n) {
        std::fclose(f_), f_ = nullptr;
        std::remove(tmp_.c_str());
        throw Error(path_ + ": write failed (disk full?)");
    }
}

void AtomicFileWriter::commit() {
    if (!f_) throw Error(path_ + ": written after it was finished");
    // fclose flushes: a full disk can show only here.
    const bool flushed = std::fflush(f_) == 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!flushed || !closed) {
        std::remove(tmp_.c_str());
        throw Error(path_ + ": write failed (disk full?)");
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp_.c_str());
        throw Error(path_ + ": cannot rename the finished file into place (" + why + ")");
    }
}

}  // namespace nst
