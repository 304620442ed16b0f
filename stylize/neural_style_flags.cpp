// neural-style flag aliases (contract in neural_style_flags.h).
#include "stylize/neural_style_flags.h"

#include <algorithm>
#include <cctype>

#include "base/error.h"

namespace nst {

namespace {

// "-content_image" -> "content-image"; empty when the argument is not a one-dash word.
std::string one_dash_name(const std::string& a) {
    if (a.size() < 3 || a[0] != '-' || a[1] == '-' || !std::isalpha(static_cast<unsigned char>(a[1]))) return "";
    std::string name = a.substr(1);
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
}

}  // namespace

std::vector<std::string> translate_neural_style_args(const std::vector<std::string>& args,
                                                     const std::function<bool(const std::string&)>& is_flag,
                                                     std::vector<std::string>* notes) {
    std::vector<std::string> out;
    const auto note = [&](const std::string& n) {
        if (notes) notes->push_back(n);
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string name = one_dash_name(args[i]);
        const bool has_value = i + 1 < args.size();
        const std::string value = has_value ? args[i + 1] : "";
        if (name.empty()) {
            out.push_back(args[i]);
        } else if (name == "original-colors" && has_value && (value == "0" || value == "1")) {
            if (value == "1") out.push_back("--original-colors");
            ++i;
        } else if (name == "original-colors" && has_value && value[0] != '-') {  // else CLI11: "argument was not expected: 2"
            throw Error(args[i] + " takes 0 or 1 (neural-style's spelling; --original-colors is the flag), not '" + value + "'");
        } else if (name == "backend" && has_value) {
            out.push_back("--backend");
            out.push_back(value == "cudnn" ? "library" : (value == "nn" || value == "clnn") ? "own" : value);
            ++i;
        } else if (name == "model-file" && has_value) {
            out.push_back("--weights");
            out.push_back(value);
            ++i;
        } else if (name == "lbfgs-num-correction" && value == "0") {
            ++i;  // neural-style's "default"
        } else if ((name == "proto-file" || name == "multigpu-strategy") && has_value) {
            note("ignoring neural-style's -" + args[i].substr(1) + " " + value + " (no meaning here)");
            ++i;
        } else if (name == "cudnn-autotune") {
            note("ignoring neural-style's -cudnn_autotune (the cuDNN variants choose their algorithms)");
        } else if (is_flag("--" + name)) {
            out.push_back("--" + name);
        } else {
            out.push_back(args[i]);  // CLI11 will name it
        }
    }
    return out;
}

}  // namespace nst
