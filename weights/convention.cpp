// Input conventions (contract in convention.h).
#include "weights/convention.h"

#include <cmath>
#include <sstream>

#include "base/error.h"

namespace nst::weights {

namespace {
std::string num(double v) {
    std::ostringstream o;
    o.precision(9);
    o << v;
    return o.str();
}
std::string triple(const std::array<double, 3>& t) { return num(t[0]) + "," + num(t[1]) + "," + num(t[2]); }

double parse_number(const std::string& text, const std::string& what) {
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    while (used < text.size() && text[used] == ' ') ++used;
    if (used != text.size() || text.empty() || !std::isfinite(v))
        throw Error(what + ": '" + text + "' is not a number");
    return v;
}
}  // namespace

double parse_positive(const std::string& text, const std::string& what) {
    const double v = parse_number(text, what);
    if (v <= 0) throw Error(what + ": must be positive, got " + text);
    return v;
}

std::array<double, 3> parse_triple(const std::string& text, const std::string& what) {
    std::array<double, 3> r{};
    std::stringstream ss(text);
    std::string item;
    int n = 0;
    while (std::getline(ss, item, ',')) {
        if (n == 3) throw Error(what + ": expected three comma-separated numbers, got '" + text + "'");
        r[size_t(n++)] = parse_number(item, what);
    }
    if (n != 3) throw Error(what + ": expected three comma-separated numbers, got '" + text + "'");
    return r;
}

std::string InputConvention::describe() const {
    return std::string(bgr ? "BGR" : "RGB") + ", 0.." + num(scale) + ", mean " + triple(mean) + ", std " + triple(std) +
           (stated ? "" : " (torchvision default: the file states none)");
}

InputConvention convention_from_metadata(const std::map<std::string, std::string>& md, const std::string& name) {
    InputConvention c;
    auto get = [&](const char* k) -> const std::string* {
        auto it = md.find(k);
        return it == md.end() ? nullptr : &it->second;
    };
    const std::string* order = get("input_channel_order");
    const std::string* scale = get("input_scale");
    const std::string* mean = get("input_mean");
    const std::string* sd = get("input_std");
    if (!order && !scale && !mean && !sd) return c;
    if (!order || !scale || !mean || !sd)
        throw Error(name + ": metadata states only part of the input convention (need input_channel_order, "
                           "input_scale, input_mean and input_std)");
    c.stated = true;
    if (*order == "RGB")
        c.bgr = false;
    else if (*order == "BGR")
        c.bgr = true;
    else
        throw Error(name + ": input_channel_order must be RGB or BGR, not '" + *order + "'");
    c.scale = parse_positive(*scale, name + ": input_scale");
    c.mean = parse_triple(*mean, name + ": input_mean");
    c.std = parse_triple(*sd, name + ": input_std");
    for (double s : c.std)
        if (s <= 0) throw Error(name + ": input_std values must be positive, got '" + *sd + "'");
    return c;
}

void convention_to_metadata(const InputConvention& c, std::map<std::string, std::string>& md) {
    md["input_channel_order"] = c.bgr ? "BGR" : "RGB";
    md["input_scale"] = num(c.scale);
    md["input_mean"] = triple(c.mean);
    md["input_std"] = triple(c.std);
}

}  // namespace nst::weights
