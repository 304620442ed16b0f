// libFuzzer target: the ONNX reader on arbitrary bytes (libonnx's protobuf parser, then our conversion and
// graph checks: tensor sizes against their bytes, inputs made before use). Any nst::Error is a correct
// refusal; a crash, a sanitizer report, a leak or an allocation beyond -rss_limit_mb is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "weights/onnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        (void)nst::weights::parse_onnx(bytes, "fuzz.onnx");
    } catch (const nst::Error&) {
    }
    return 0;
}
