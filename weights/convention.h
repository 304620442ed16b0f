// The input convention a network's weights expect: channel order, pixel scale, per-channel mean and std.
// It is data, stored in a weight file's metadata, never code:
//   input_channel_order = RGB | BGR, input_scale = 1 | 255 (any positive number),
//   input_mean = "m0,m1,m2", input_std = "s0,s1,s2"   (in the file's channel order, on its scale)
// A network input is   x[c] = (pixel[order(c)] * scale - mean[c]) / std[c]   for pixels in 0..1 (RGB).
// A file without these keys gets torchvision's convention (RGB, 0..1, ImageNet mean/std).
#pragma once
#include <array>
#include <map>
#include <string>

namespace nst::weights {

struct InputConvention {
    bool bgr = false;
    double scale = 1.0;
    std::array<double, 3> mean{0.485, 0.456, 0.406};
    std::array<double, 3> std{0.229, 0.224, 0.225};
    bool stated = false;  // read from the file (false: the torchvision default was assumed)

    static InputConvention torchvision() { return {}; }
    std::string describe() const;  // "RGB, 0..255, mean 123.68,116.779,103.939, std 1,1,1"
};

// `name` (a file) is used in error messages about malformed values.
InputConvention convention_from_metadata(const std::map<std::string, std::string>& md, const std::string& name);
void convention_to_metadata(const InputConvention& c, std::map<std::string, std::string>& md);

// A finite number > 0; throws naming `what` otherwise.
double parse_positive(const std::string& text, const std::string& what);

// "a,b,c" -> three finite numbers; throws naming `what` otherwise.
std::array<double, 3> parse_triple(const std::string& text, const std::string& what);

}  // namespace nst::weights
