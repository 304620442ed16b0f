// libFuzzer target: the safetensors reader on arbitrary bytes, then the VGG-19 renaming and checks that
// stylize applies to whatever it read; and the piecewise reader that checkpoints use (the header alone,
// then ranges of each tensor's values) on the same bytes as a stream. Any nst::Error is a correct refusal; a crash, a sanitizer report,
// a leak or an allocation beyond libFuzzer's -rss_limit_mb is a finding. Built by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        nst::weights::WeightFile w = nst::weights::parse_safetensors(bytes, "fuzz.safetensors");
        (void)nst::weights::vgg19_weights_from(std::move(w), "fuzz.safetensors");
    } catch (const nst::Error&) {
    }
    try {
        std::istringstream in(bytes);
        const nst::weights::SafetensorsIndex ix = nst::weights::read_safetensors_index(in, "fuzz.safetensors");
        for (const auto& [name, e] : ix.tensors) {  // the first and last few values, and a range past the end
            const int64_t k = std::min<int64_t>(e.numel, 4);
            std::vector<float> v(static_cast<size_t>(k));
            nst::weights::read_safetensors_values(in, ix, name, 0, k, v.data(), "fuzz.safetensors");
            nst::weights::read_safetensors_values(in, ix, name, e.numel - k, k, v.data(), "fuzz.safetensors");
            try {
                nst::weights::read_safetensors_values(in, ix, name, e.numel - k, k + 1, v.data(), "fuzz.safetensors");
                __builtin_trap();  // a range past the tensor must be refused
            } catch (const nst::Error&) {
            }
        }
    } catch (const nst::Error&) {
    }
    return 0;
}
