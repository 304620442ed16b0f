// stylize's checks that run before any heavy work: the options alone (validate, in stylize.h), every
// file the run will write against every file it reads, and the image sizes against VGG-19's poolings.
// Every failure is an nst::Error that names the flag and says what would do.
#pragma once
#include <string>
#include <vector>

#include "media/image.h"
#include "stylize/options.h"

namespace nst {

// The checkpoint's path: --checkpoint, else OUTPUT.ckpt.safetensors.
std::string checkpoint_path(const StylizeOptions& o);

// Output, checkpoint and log against the inputs (by file identity) and against their folders
// (stylize/write_targets.h). o.weights must be resolved already.
void check_stylize_write_targets(const StylizeOptions& o);

// Every scale must leave the content big enough for the poolings before the deepest layer used.
void check_scales_fit_vgg(const Image& content, const std::vector<int>& scales, const StylizeOptions& o);

}  // namespace nst
