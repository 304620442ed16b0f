// For the video tests: synthetic clips with known motion (a window of a photo, panned a few pixels per
// frame, written as numbered PNG frames) and a temporary folder removed afterwards.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "media/image.h"
#include "tests/test_util.h"

namespace nst::test {



// A w x h window of `img` whose left edge is at x0 (the camera pans right by dx per frame: the content
// moves left by dx, so the flow from frame t to t+1 is (-dx, 0)).
inline Image window(const Image& img, int x0, int y0, int w, int h) {
    if (x0 < 0 || y0 < 0 || x0 + w > img.width || y0 + h > img.height)
        throw Error("test window " + std::to_string(w) + "x" + std::to_string(h) + " at (" + std::to_string(x0) + ", " +
                    std::to_string(y0) + ") leaves the " + std::to_string(img.width) + "x" + std::to_string(img.height) + " image");
    Image out{w, h, std::vector<float>(size_t(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) out.rgb[(size_t(y) * w + x) * 3 + c] = img.rgb[(size_t(y + y0) * img.width + x + x0) * 3 + c];
    return out;
}

// n frames of w x h panned dx pixels per frame, from the photo shrunk so that the pan fits.
inline void write_pan(const std::string& dir, int n, int w, int h, int dx) {
    std::filesystem::create_directories(dir);
    const Image photo = resize_longest(load_image(std::string(NST_EXAMPLES_DIR) + "/chelsea.jpg"), std::max(w + n * dx + 8, h * 2));
    for (int t = 0; t < n; ++t)
        save_image(window(photo, 4 + t * dx, (photo.height - h) / 2, w, h), dir + "/frame_" + std::to_string(t + 1) + ".png");
}

}  // namespace nst::test
