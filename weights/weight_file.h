// In-memory weights as read from any supported file: named float32 host arrays plus string metadata.
// weights/ depends on nothing but the standard library and nlohmann-json, so its parsers can be built
// and fuzzed alone (and are, under ASan+UBSan: see tests/CMakeLists.txt).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/file_io.h"  // read_file_bytes, write_file_atomic (in nst::, so found from nst::weights)

namespace nst::weights {

struct HostTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;  // row-major, shape's product of them
    std::string dtype = "F32";  // as stored in its file: F32, F16 or BF16 (values hold those exactly; F64 reads as F32)
};

struct WeightFile {
    std::map<std::string, HostTensor> tensors;
    std::map<std::string, std::string> metadata;  // safetensors __metadata__ (empty for .pth files)
};

std::string shape_to_string(const std::vector<int64_t>& shape);

// Guards against hostile sizes: products that overflow, or that exceed `limit` elements.
// Returns the element count or throws nst::Error mentioning `what`.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what, int64_t limit);

// An n-byte little-endian unsigned integer at p (n <= 8). The caller has checked the bounds.
inline uint64_t read_le(const char* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
    return v;
}

// IEEE half and bfloat16 bit patterns to float.
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
uint16_t float_to_half(float f);  // round to nearest even (for fixtures and tests)
uint16_t float_to_bf16(float f);  // round to nearest even; exact for values read from BF16

}  // namespace nst::weights
