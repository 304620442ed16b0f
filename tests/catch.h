// Catch2 v2 or v3, whichever Debian provided (bookworm ships v2, later releases v3). NST_CATCH2_MAJOR
// comes from tests/CMakeLists.txt: the version find_package(Catch2) found, whose library is linked.
#pragma once
#ifndef NST_CATCH2_MAJOR
#error "NST_CATCH2_MAJOR is not defined: build the tests through tests/CMakeLists.txt"
#endif
#if NST_CATCH2_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
namespace Catch {
inline auto Contains(const std::string& s) { return Matchers::ContainsSubstring(s); }
}  // namespace Catch
#else
#include <catch2/catch.hpp>
#endif
