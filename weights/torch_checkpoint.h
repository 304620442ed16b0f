// PyTorch checkpoints (state_dicts) in both on-disk formats:
//  - zip (torch >= 1.6): an archive holding <prefix>/data.pkl, whose persistent ids name storages stored
//    as <prefix>/data/<key>;
//  - legacy (torch < 1.6, e.g. torchvision's vgg19-dcbb9e9d.pth): pickles of a magic number, the
//    protocol version and system info, then the state_dict, then the list of storage keys, then each
//    storage as an int64 element count followed by its raw bytes.
// Float storages (float32, float64, float16, bfloat16) become float32 HostTensors; integer entries
// (e.g. BatchNorm's num_batches_tracked) are skipped. A checkpoint that wraps its state_dict
// ({"state_dict": ...} or {"model": ...}) is unwrapped.
#pragma once
#include <string>

#include "weights/weight_file.h"

namespace nst::weights {

WeightFile read_torch_checkpoint(const std::string& path);
WeightFile parse_torch_checkpoint(const std::string& bytes, const std::string& name);

}  // namespace nst::weights
