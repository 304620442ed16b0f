// Image loading, resizing and saving through stb (contract in image.h).
#include "media/image.h"

#include <cstdint>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <type_traits>

#include "base/file_io.h"
#ifdef NST_HAVE_WEBP
#include <webp/decode.h>
#endif

namespace nst {

namespace {

// Debian's stb_image (2022-09 snapshot) trusts a JPEG Huffman table's 16 code counts: counts adding up
// to more than 256 overflow its fixed 257-entry arrays (found by fuzz/fuzz_image.cpp; the input is in
// fuzz/regressions/image/). Upstream added the check later, so until the package has it, JPEG segments
// are walked here first and such a table is refused. Returns an empty string when the file is fine
// (or not a JPEG), else what is wrong.
std::string jpeg_huffman_problem(const std::string& b) {
    const auto u = [&](size_t i) { return i < b.size() ? unsigned(static_cast<unsigned char>(b[i])) : 0u; };
    // SOI as stb finds it: 0xFF, any number of 0xFF fill bytes, then 0xD8.
    if (u(0) != 0xFF) return "";
    size_t i = 1;
    while (i < b.size() && u(i) == 0xFF) ++i;
    if (u(i) != 0xD8) return "";
    ++i;
    while (i + 4 <= b.size()) {
        if (u(i) != 0xFF) {  // entropy-coded data after a scan: skip to the next marker
            ++i;
            continue;
        }
        const unsigned marker = u(i + 1);
        if (marker == 0xFF || marker == 0x00 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
            i += (marker == 0xFF) ? 1 : 2;  // fill byte, stuffed zero, SOI or restart marker: no length
            continue;
        }
        if (marker == 0xD9) return "";  // end of image
        const size_t len = (size_t(u(i + 2)) << 8) | u(i + 3);
        if (len < 2) return "a JPEG segment shorter than its own length field";
        const size_t end = std::min(b.size(), i + 2 + len);
        if (marker == 0xC4) {
            // DHT, read exactly as stb_image reads it: tables of (class/id, 16 counts, values) while the
            // declared length lasts, even when a table runs past it (stb then fails, but only after
            // building the table).
            int64_t left = int64_t(len) - 2;
            for (size_t t = i + 4; left > 0;) {
                size_t n = 0;
                for (size_t k = 1; k <= 16; ++k) n += u(t + k);
                if (n > 256)
                    return "a JPEG Huffman table declares " + std::to_string(n) + " codes (at most 256 exist)";
                t += 17 + n;
                left -= int64_t(17 + n);
            }
            if (left != 0) return "";  // stb_image stops at this malformed segment
        }
        i = end;
    }
    return "";
}

// stb_image grows its PNG buffer to each IDAT chunk's declared length before checking that the bytes are
// there, so a 70-byte file can make it allocate 2 GiB (fuzz/regressions/image/png_idat_claims_1gib.png).
// Every chunk's length must fit in the file.
std::string png_chunk_problem(const std::string& b) {
    static const char sig[] = "\x89PNG\r\n\x1a\n";
    if (b.size() < 8 || b.compare(0, 8, sig, 8) != 0) return "";
    for (size_t i = 8; i + 8 <= b.size();) {
        uint64_t len = 0;  // big-endian, as PNG stores it
        for (size_t k = 0; k < 4; ++k) len = (len << 8) | static_cast<unsigned char>(b[i + k]);
        if (len > b.size() - i - 8)
            return "a PNG chunk declares " + std::to_string(len) + " bytes, more than the file holds";
        i += 12 + len;  // length, type, data, CRC
    }
    return "";
}

// stb_image reads a PNM header's width, height and maximum value into an int with no overflow check
// (signed overflow: undefined behaviour; fuzz/regressions/image/pnm_header_int_overflow.ppm). Numbers of
// more than 9 digits are refused first, read the way stb reads them (whitespace and # comments between).
std::string pnm_header_problem(const std::string& b) {
    if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return "";
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    size_t i = 2;
    for (int field = 0; field < 3; ++field) {
        for (;;) {
            while (i < b.size() && space(b[i])) ++i;
            if (i >= b.size() || b[i] != '#') break;
            while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
        }
        size_t digits = 0;
        for (; i < b.size() && b[i] >= '0' && b[i] <= '9'; ++i) ++digits;
        if (digits > 9) return "a PNM header number has " + std::to_string(digits) + " digits";
    }
    return "";
}

// Interleaved samples with n channels (grey, grey+alpha, RGB, RGBA) to RGB in 0..1; alpha is dropped.
template <class T> void to_rgb(const T* px, int w, int h, int n, float max_value, Image& img) {
    if (n < 1 || n > 4) throw Error("image: " + std::to_string(n) + " channels per pixel are not supported");
    const size_t pixels = size_t(w) * size_t(h);
    img.rgb.resize(pixels * 3);
    for (size_t i = 0; i < pixels; ++i) {
        const T* p = px + i * size_t(n);
        for (size_t c = 0; c < 3; ++c) img.rgb[i * 3 + c] = float(p[n >= 3 ? c : 0]) / max_value;
    }
}

std::string too_many_pixels(const std::string& name, int64_t w, int64_t h, int64_t max_pixels) {
    return name + ": " + std::to_string(w) + "x" + std::to_string(h) + " pixels is more than this program accepts (" +
           std::to_string(max_pixels) + "; --max-pixels raises the limit)";
}

// stb_image refuses a PNG whose header claims more than 2^30 bytes of pixels (20000x20000 RGB, say)
// before stbi_info can report its size, and then blames the file ("unknown image type", the last format
// it tried). The IHDR chunk, which a PNG must start with, is read here, so such a file gets the
// --max-pixels message like any other large image. Throws when the header claims too many pixels.
void check_png_header_size(const std::string& head, const std::string& name, int64_t max_pixels) {
    static const char sig[] = "\x89PNG\r\n\x1a\n";
    if (head.size() < 24 || head.compare(0, 8, sig, 8) != 0 || head.compare(12, 4, "IHDR") != 0) return;
    const auto be32 = [&](size_t i) {
        uint64_t v = 0;
        for (size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(head[i + k]);
        return int64_t(v);
    };
    const int64_t w = be32(16), h = be32(20);
    if (w > 0 && h > 0 && w * h > max_pixels) throw Error(too_many_pixels(name, w, h, max_pixels));
}

// WebP (RIFF....WEBP), which stb does not read: libwebp, when the build has it.
bool is_webp(const std::string& head) {
    return head.size() >= 12 && head.compare(0, 4, "RIFF") == 0 && head.compare(8, 4, "WEBP") == 0;
}

// The picture's size from its header (the first few hundred bytes are enough); throws naming the file.
std::pair<int, int> webp_size(const std::string& head, const std::string& name, int64_t max_pixels) {
#ifdef NST_HAVE_WEBP
    int w = 0, h = 0;
    if (!WebPGetInfo(reinterpret_cast<const uint8_t*>(head.data()), head.size(), &w, &h))
        throw Error(name + ": not a readable image (a WebP header libwebp cannot read)");
    if (w < 1 || h < 1 || int64_t(w) * h > max_pixels) throw Error(too_many_pixels(name, w, h, max_pixels));
    return {w, h};
#else
    (void)head, (void)max_pixels;
    throw Error(name + ": a WebP picture, and this build reads none (install libwebp-dev and build again)");
#endif
}

Image decode_webp(const std::string& bytes, const std::string& name, int64_t max_pixels) {
    const auto [w, h] = webp_size(bytes, name, max_pixels);
    Image img;
#ifdef NST_HAVE_WEBP
    int dw = 0, dh = 0;
    std::unique_ptr<uint8_t, void (*)(void*)> px(WebPDecodeRGB(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &dw, &dh),
                                                 WebPFree);
    if (!px || dw != w || dh != h) throw Error(name + ": not a readable image (libwebp could not decode it)");
    to_rgb(px.get(), w, h, 3, 255.f, img);
#endif
    img.width = w;
    img.height = h;
    return img;
}

}  // namespace

Image decode_image(const std::string& bytes, const std::string& name, int64_t max_pixels) {
    if (bytes.size() > size_t(std::numeric_limits<int>::max()))
        throw Error(name + ": " + std::to_string(bytes.size()) + " bytes is too large for an image file");
    const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int len = int(bytes.size());
    if (is_webp(bytes)) return decode_webp(bytes, name, max_pixels);
    for (const std::string& why : {jpeg_huffman_problem(bytes), png_chunk_problem(bytes), pnm_header_problem(bytes)})
        if (!why.empty()) throw Error(name + ": not a readable image (" + why + ")");
    int w = 0, h = 0, channels = 0;
    // The header's size is checked before anything is decoded, so a tiny file claiming a huge image
    // costs nothing.
    check_png_header_size(bytes, name, max_pixels);
    if (!stbi_info_from_memory(data, len, &w, &h, &channels))
        throw Error(name + ": not a readable image (" + stbi_failure_reason() + ")");
    if (w < 1 || h < 1 || int64_t(w) * h > max_pixels) throw Error(too_many_pixels(name, w, h, max_pixels));
    Image img;
    // Pixels are asked for in the file's own channel count and made RGB here: Debian's stb_image turns
    // a 16-bit PNM into the wrong sample size when asked to convert channels itself (a heap over-read
    // found by fuzz/fuzz_image.cpp; fuzz/regressions/image/pnm16_channel_conversion.pnm).
    const auto take = [&](auto* px, float max_value) {  // stb's pixels, 8 or 16 bits, into img
        std::unique_ptr<std::remove_pointer_t<decltype(px)>, void (*)(void*)> owned(px, stbi_image_free);
        if (!px) throw Error(name + ": not a readable image (" + stbi_failure_reason() + ")");
        to_rgb(px, w, h, channels, max_value, img);
    };
    if (stbi_is_16_bit_from_memory(data, len))
        take(stbi_load_16_from_memory(data, len, &w, &h, &channels, 0), 65535.f);
    else
        take(stbi_load_from_memory(data, len, &w, &h, &channels, 0), 255.f);
    img.width = w;
    img.height = h;
    return img;
}

Image load_image(const std::string& path, int64_t max_pixels) {
    std::string bytes;
    try {
        bytes = read_file_bytes(path);
    } catch (const Error&) {
        throw Error(path + ": cannot open the image file");
    }
    return decode_image(bytes, path, max_pixels);
}

std::pair<int, int> read_image_size(const std::string& path, int64_t max_pixels) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the image file");
    std::string head(4096, '\0');  // a PNM header's numbers come first
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(size_t(in.gcount()));
    if (is_webp(head)) return webp_size(head, path, max_pixels);
    if (const std::string why = pnm_header_problem(head); !why.empty())
        throw Error(path + ": not a readable image (" + why + ")");
    check_png_header_size(head, path, max_pixels);
    int w = 0, h = 0, channels = 0;
    if (!stbi_info(path.c_str(), &w, &h, &channels))
        throw Error(path + ": not a readable image (" + stbi_failure_reason() + ")");
    if (w < 1 || h < 1 || int64_t(w) * h > max_pixels) throw Error(too_many_pixels(path, w, h, max_pixels));
    return {w, h};
}

Image resize(const Image& img, int width, int height) {
    if (width < 1 || height < 1) throw Error("resize: target size " + std::to_string(width) + "x" + std::to_string(height) + " is empty");
    if (width == img.width && height == img.height) return img;
    Image out;
    out.width = width;
    out.height = height;
    out.rgb.resize(size_t(width) * size_t(height) * 3);
    if (!stbir_resize_float(img.rgb.data(), img.width, img.height, 0, out.rgb.data(), width, height, 0, 3))
        throw Error("resize: stb_image_resize failed");
    for (float& v : out.rgb) v = std::clamp(v, 0.f, 1.f);  // the filter may overshoot a little
    return out;
}

std::pair<int, int> size_for_longest(int width, int height, int longest) {
    if (longest < 1) throw Error("image size must be at least 1, got " + std::to_string(longest));
    const double s = double(longest) / std::max(width, height);
    return {std::max(1, int(std::lround(width * s))), std::max(1, int(std::lround(height * s)))};
}

Image resize_longest(const Image& img, int longest) {
    const auto [w, h] = size_for_longest(img.width, img.height, longest);
    return resize(img, w, h);
}

std::string extension_of(const std::string& path) {
    const auto dot = path.find_last_of('.');
    const auto slash = path.find_last_of('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
    std::string e = path.substr(dot + 1);
    for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

void save_image(const Image& img, const std::string& path) {
    const std::string ext = extension_of(path);
    if (ext != "png" && ext != "jpg" && ext != "jpeg")
        throw Error(path + ": output must end in .png, .jpg or .jpeg");
    std::vector<unsigned char> px(img.rgb.size());
    for (size_t i = 0; i < px.size(); ++i) px[i] = (unsigned char)std::lround(std::clamp(img.rgb[i], 0.f, 1.f) * 255.f);
    std::string bytes;
    auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
    const int ok = ext == "png" ? stbi_write_png_to_func(sink, &bytes, img.width, img.height, 3, px.data(), img.width * 3)
                                : stbi_write_jpg_to_func(sink, &bytes, img.width, img.height, 3, px.data(), 95);
    if (!ok) throw Error(path + ": encoding the image failed");
    write_file_atomic(path, bytes);
}

}  // namespace nst
