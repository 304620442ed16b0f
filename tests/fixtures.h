// Where the test data lives: the committed fixtures (tests/fixtures, written by tests/make_fixtures.py)
// and the optional ../shared folder (real VGG-19 weights, images), which a user's clone does not have.
#pragma once
#include <fstream>
#include <string>

namespace nst::test {

inline std::string fixture(const std::string& name) { return std::string(NST_FIXTURES_DIR) + "/" + name; }
inline std::string shared(const std::string& name) { return std::string(NST_SHARED_DIR) + "/" + name; }
inline bool exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace nst::test
