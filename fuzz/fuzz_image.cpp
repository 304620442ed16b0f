// libFuzzer target: image loading as stylize does it (stb_image behind nst::decode_image, with the
// pixel limit checked from the header before decoding), then the resize stylize applies. Any nst::Error
// is a correct refusal; a crash or a sanitizer report is a finding. The limit is lowered to 512x512 px so
// that a header claiming a large image is refused quickly, as a user's --max-pixels would.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"
#include "media/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        const nst::Image img = nst::decode_image(bytes, "fuzz.img", 262'144);
        if (img.rgb.size() != size_t(img.width) * size_t(img.height) * 3) __builtin_trap();
        for (float v : img.rgb)
            if (!(v >= 0.f && v <= 1.f)) __builtin_trap();  // pixels must come out in 0..1
        (void)nst::resize_longest(img, 16);
    } catch (const nst::Error&) {
    }
    return 0;
}
