// VGG-19's convolution weights, under one naming: torchvision's `features.N.weight` / `features.N.bias`.
//
// load_vgg19_weights reads any supported file (safetensors, PyTorch zip or legacy checkpoint, chosen by
// content, not extension), renames keys to that scheme (accepting torchvision/timm `features.N.*`,
// DataParallel's `module.features.N.*`, and Gatys' `convX_Y.*`), drops everything that is not a conv
// layer (the classifier), and checks what it keeps: 4-D 3x3 kernels whose channels chain from 3 input
// channels, biases that match, finite values, and no gap in the layer sequence. Channel counts may be
// smaller than the real network's (test fixtures use few channels). The input convention comes from the
// file's metadata (see convention.h).
#pragma once
#include <array>
#include <string>

#include "weights/convention.h"
#include "weights/weight_file.h"

namespace nst::weights {

struct VggConv {
    const char* name;  // "conv1_1"
    int index;         // position in torchvision's vgg19().features
};
extern const std::array<VggConv, 16> kVgg19Convs;

struct Vgg19Weights {
    WeightFile file;            // features.N.weight / .bias only, float32
    InputConvention convention;
    int layers = 0;             // conv layers present: conv1_1 .. kVgg19Convs[layers-1]
};

WeightFile read_any_weights(const std::string& path);  // format chosen by content
Vgg19Weights load_vgg19_weights(const std::string& path);
Vgg19Weights vgg19_weights_from(WeightFile any, const std::string& name);  // renaming and checks

// Where weights are looked for when no path is given: $NST_WEIGHTS, then weights/vgg19.safetensors and
// ../shared/weights/vgg19-conv.safetensors relative to the working directory, then the same two relative
// to the program's folder and its parent (so build/stylize finds the checkout's weights from anywhere).
// "" if none exists.
std::string find_default_weights();

}  // namespace nst::weights
