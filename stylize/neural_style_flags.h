// neural-style's command-line spelling (jcjohnson/neural-style: -content_image, -image_size, ...) as
// aliases of stylize's flags, so a neural-style command line runs as it is (issue #13).
//
// Each argument "-name_with_underscores" (one dash) becomes "--name-with-dashes" when that is one of
// stylize's flags (is_flag tells). neural-style's flags that differ are mapped:
//   -original_colors 1|0    -> --original-colors, or nothing (any other value: an nst::Error naming it)
//   -backend nn|clnn|cudnn   -> --backend own|own|library
//   -model_file F            -> --weights F
//   -lbfgs_num_correction 0  -> nothing (neural-style's 0 means the default)
// and those with no meaning here (-proto_file F, -cudnn_autotune, -multigpu_strategy S) are dropped with
// a note. Anything else, including "--" flags and values, is passed through unchanged, so CLI11 still
// names an unknown flag.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace nst {

std::vector<std::string> translate_neural_style_args(const std::vector<std::string>& args,
                                                     const std::function<bool(const std::string&)>& is_flag,
                                                     std::vector<std::string>* notes);

}  // namespace nst
