// libFuzzer target: the safetensors reader on arbitrary bytes, then the VGG-19 renaming and checks that
// stylize applies to whatever it read. Any nst::Error is a correct refusal; a crash, a sanitizer report,
// a leak or an allocation beyond libFuzzer's -rss_limit_mb is a finding. Built by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

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
    return 0;
}
