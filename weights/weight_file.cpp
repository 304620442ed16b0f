// Helpers shared by the weight readers and writers.
#include "weights/weight_file.h"

#include <cstdint>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "base/error.h"

namespace nst::weights {

std::string shape_to_string(const std::vector<int64_t>& shape) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < shape.size(); ++i) o << (i ? "," : "") << shape[i];
    o << ']';
    return o.str();
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what, int64_t limit) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw Error(what + ": negative dimension in shape " + shape_to_string(shape));
        if (d != 0 && n > limit / d) throw Error(what + ": shape " + shape_to_string(shape) + " is absurdly large");
        n *= d;
    }
    if (n > limit) throw Error(what + ": shape " + shape_to_string(shape) + " is absurdly large");
    return n;
}

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h >> 15) << 31;
    const int exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = std::ldexp(float(mant), -24);  // zero or subnormal
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(float(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

float bf16_to_float(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // NaN stays a (quiet) NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
    return uint16_t(bits >> 16);
}

uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000;
    const int exp = int((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return uint16_t(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return uint16_t(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return uint16_t(sign);
        mant |= 0x800000;
        const int shift = 14 - exp;
        uint32_t h = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) ++h;
        return uint16_t(sign | h);
    }
    uint32_t h = (uint32_t(exp) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: still correct
    return uint16_t(sign | h);
}

}  // namespace nst::weights
