// Images to and from tensors: interleaved RGB in 0..1 <-> planar (1,3,H,W) float32 (contract in
// image.h). Kept apart from image.cpp so that file reading and decoding link without the tensor core
// (the image fuzzer builds them alone).
#include "media/image.h"

#include <algorithm>

namespace nst {

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

}  // namespace nst
