// Images in and out of the framework. Loading uses stb_image (PNG, JPEG, BMP, GIF, TGA, PNM; grey,
// grey+alpha, RGB, RGBA; 8 or 16 bits per channel), resizing uses stb_image_resize. Pixels are float RGB in 0..1.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace nst {

struct Image {
    int width = 0, height = 0;
    std::vector<float> rgb;  // height * width * 3, row-major, interleaved RGB, 0..1
};

// Images larger than this many pixels are refused from their header, before decoding (64 Mpx would
// already take 768 MiB as float RGB; stylize's --max-pixels overrides it).
inline constexpr int64_t kDefaultMaxPixels = 64'000'000;

// Throws nst::Error naming the file when it is missing, unreadable, not an image or larger than
// max_pixels. Alpha is dropped (composited over nothing: the colour channels are kept as they are).
Image load_image(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);
// The same from the file's bytes (what the fuzzer drives); name is used in messages.
Image decode_image(const std::string& bytes, const std::string& name, int64_t max_pixels = kDefaultMaxPixels);

// The width and height an image file's header gives, without decoding it, refused as load_image would
// refuse them (missing, not an image, a malformed PNM header, more than max_pixels). Reads a few bytes.
std::pair<int, int> read_image_size(const std::string& path, int64_t max_pixels = kDefaultMaxPixels);

// Resized so that the longer side is `longest` pixels (aspect ratio kept, at least 1 pixel a side).
Image resize_longest(const Image& img, int longest);
// The size resize_longest gives a width x height image, without any pixels: {width, height}.
std::pair<int, int> size_for_longest(int width, int height, int longest);
Image resize(const Image& img, int width, int height);

Tensor image_to_tensor(const Image& img);  // (1,3,H,W) float32 on the CPU
Image tensor_to_image(const Tensor& t);    // from (1,3,H,W), any device; values clamped to 0..1

// "png" for "a/b.PNG"; "" when the name has no extension (a dot in a folder's name is not one).
std::string extension_of(const std::string& path);

// Writes PNG or JPEG (by the extension: .png, .jpg/.jpeg) atomically: a temporary file, then rename.
void save_image(const Image& img, const std::string& path);

}  // namespace nst
