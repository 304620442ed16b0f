// The project's one exception type. Messages say what was wrong and, where known, which file, flag,
// op or tensor it concerned, so that a command-line program can print e.what() and exit non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace nst {

struct Error : std::runtime_error {
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace nst
