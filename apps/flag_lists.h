// Comma-separated flag values (--style-image a.jpg,b.jpg, --style-blend-weights 2,1), shared by the apps.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"

namespace nst::apps {

inline std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> r;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) r.push_back(item);
    return r;
}

// Each item must be a whole number of type T; an Error naming the flag otherwise.
template <class T> std::vector<T> split_numbers(const std::string& s, const char* flag) {
    std::vector<T> r;
    for (const std::string& item : split(s)) {
        std::istringstream in(item);
        T v{};
        if (!(in >> v) || !in.eof()) throw Error(std::string(flag) + ": '" + item + "' is not a number");
        r.push_back(v);
    }
    return r;
}

}  // namespace nst::apps
