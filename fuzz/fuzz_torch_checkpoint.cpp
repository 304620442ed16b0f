// libFuzzer target: the PyTorch checkpoint reader (zip archive or legacy stream, and the pickle machine
// inside both) on arbitrary bytes, then the VGG-19 renaming and checks. Any nst::Error is a correct
// refusal; a crash, a sanitizer report, a leak or a runaway allocation is a finding. Built by
// scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "weights/torch_checkpoint.h"
#include "weights/vgg19_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        nst::weights::WeightFile w = nst::weights::parse_torch_checkpoint(bytes, "fuzz.pth");
        (void)nst::weights::vgg19_weights_from(std::move(w), "fuzz.pth");
    } catch (const nst::Error&) {
    }
    return 0;
}
