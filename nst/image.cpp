// Image loading, resizing and saving through stb (contract in image.h).
#include "nst/image.h"

#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "weights/weight_file.h"

namespace nst {

Image load_image(const std::string& path) {
    {
        std::ifstream probe(path, std::ios::binary);
        if (!probe) throw Error(path + ": cannot open the image file");
    }
    int w = 0, h = 0, channels = 0;
    Image img;
    if (stbi_is_16_bit(path.c_str())) {
        std::unique_ptr<stbi_us, void (*)(void*)> px(stbi_load_16(path.c_str(), &w, &h, &channels, 3), stbi_image_free);
        if (!px) throw Error(path + ": not a readable image (" + stbi_failure_reason() + ")");
        img.rgb.resize(size_t(w) * size_t(h) * 3);
        for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = float(px.get()[i]) / 65535.f;
    } else {
        std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &channels, 3), stbi_image_free);
        if (!px) throw Error(path + ": not a readable image (" + stbi_failure_reason() + ")");
        img.rgb.resize(size_t(w) * size_t(h) * 3);
        for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = float(px.get()[i]) / 255.f;
    }
    img.width = w;
    img.height = h;
    return img;
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

Image resize_longest(const Image& img, int longest) {
    if (longest < 1) throw Error("image size must be at least 1, got " + std::to_string(longest));
    const double s = double(longest) / std::max(img.width, img.height);
    const int w = std::max(1, int(std::lround(img.width * s))), h = std::max(1, int(std::lround(img.height * s)));
    return resize(img, w, h);
}

Tensor image_to_tensor(const Image& img) {
    Tensor t = Tensor::empty({1, 3, img.height, img.width});
    float* p = t.data<float>();
    const size_t plane = size_t(img.width) * size_t(img.height);
    for (size_t i = 0; i < plane; ++i)
        for (size_t c = 0; c < 3; ++c) p[c * plane + i] = img.rgb[i * 3 + c];
    return t;
}

Image tensor_to_image(const Tensor& t) {
    check_ndim(t, 4, "tensor_to_image", "t");
    if (t.dim(0) != 1 || t.dim(1) != 3) throw Error("tensor_to_image: needs (1,3,H,W), got " + t.str());
    const Tensor h = t.cpu();
    Image img;
    img.height = int(t.dim(2));
    img.width = int(t.dim(3));
    const size_t plane = size_t(img.width) * size_t(img.height);
    img.rgb.resize(plane * 3);
    const float* p = h.data<float>();
    for (size_t i = 0; i < plane; ++i)
        for (size_t c = 0; c < 3; ++c) img.rgb[i * 3 + c] = std::clamp(p[c * plane + i], 0.f, 1.f);
    return img;
}

void save_image(const Image& img, const std::string& path) {
    const auto dot = path.find_last_of('.');
    std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext != "png" && ext != "jpg" && ext != "jpeg")
        throw Error(path + ": output must end in .png, .jpg or .jpeg");
    std::vector<unsigned char> px(img.rgb.size());
    for (size_t i = 0; i < px.size(); ++i) px[i] = (unsigned char)std::lround(std::clamp(img.rgb[i], 0.f, 1.f) * 255.f);
    std::string bytes;
    auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
    const int ok = ext == "png" ? stbi_write_png_to_func(sink, &bytes, img.width, img.height, 3, px.data(), img.width * 3)
                                : stbi_write_jpg_to_func(sink, &bytes, img.width, img.height, 3, px.data(), 95);
    if (!ok) throw Error(path + ": encoding the image failed");
    weights::write_file_atomic(path, bytes);
}

}  // namespace nst
