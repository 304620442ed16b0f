// The flags of the style itself, shared by stylize and stylize_video: the style images and their
// weights, the coarse style, the size, the device and backend, the network's weights, layers and
// pooling, the loss weights, the optimiser, colours and the seed. Each app adds its own (input, output,
// iterations, checkpoints) around them.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "apps/flag_lists.h"
#include "layers/vgg19.h"
#include "stylize/stylize.h"

namespace nst::apps {

// The comma-separated lists, as typed, until apply_style_flags puts them into the options.
struct StyleFlagLists {
    std::string styles, blend, coarse_layers = "relu3_1,relu4_1,relu5_1", content_layers = "relu4_2",
                style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", pooling = "max";
    const CLI::Option* coarse_layers_flag = nullptr;  // to tell a --coarse-style-layers typed from the default
};

inline void add_style_flags(CLI::App& app, StylizeOptions& o, StyleFlagLists& s) {
    // Required for the optimisation (validate() says so), not for stylize --model.
    app.add_option("--style-image", s.styles, "style image(s), comma-separated (required, but not with --model; with an arbitrary-style --model, its one painting)");
    app.add_option("--style-blend-weights", s.blend, "weights of the style images, comma-separated (default: equal)");
    app.add_option("--coarse-style-image", o.coarse_style_image, "a second painting for the large forms: the "
                   "--coarse-style-layers take their style from it, the others from --style-image");
    s.coarse_layers_flag = app.add_option("--coarse-style-layers", s.coarse_layers, "the layers --coarse-style-image "
                                          "drives (default relu3_1,relu4_1,relu5_1)");
    app.add_option("--image-size", o.image_size, "longest side of the output in pixels (default 512)");
    app.add_option("--max-pixels", o.max_pixels, "refuse input images with more pixels than this, from their header (default 64000000)")
        ->check(CLI::Validator(
            [](std::string& v) {
                try {
                    if (std::stoll(v) >= 1) return std::string();
                } catch (const std::exception&) {
                }
                return "must be a whole number of pixels, at least 1 (e.g. 64000000 for 8000x8000), not '" + v + "'";
            },
            ""))
        ->type_name("PIXELS");
    app.add_option("--style-scale", o.style_scale, "style images are resized to style-scale x the output size (default 1)");
    app.add_option("--gpu", o.gpu, "CUDA device index, or -1 for the CPU (default: 0 when a GPU is present)");
    app.add_option("--backend", o.backend, "own (the project's kernels) or library (cuDNN/cuBLAS)");
    app.add_option("--precision", o.precision, "on the GPU: fp32 (default), or tf32: convolutions and Gram matrices "
                   "on tensor cores with 10-bit mantissas (about 1e-3 relative error per layer; faster)");
    app.add_option("--weights", o.weights, "VGG-19 weights (default: $NST_WEIGHTS, weights/vgg19.safetensors, ../shared/...)");
    app.add_option("--content-weight", o.objective.content_weight, "default 5");
    app.add_option("--style-weight", o.objective.style_weight, "default 100");
    app.add_option("--tv-weight", o.objective.tv_weight, "total-variation weight (default 1e-3)");
    app.add_option("--content-layers", s.content_layers, "default relu4_2");
    app.add_option("--style-layers", s.style_layers, "default relu1_1,relu2_1,relu3_1,relu4_1,relu5_1");
    app.add_flag("--normalize-gradients", o.objective.normalize_gradients, "L1-normalise each loss's gradient (neural-style)");
    app.add_option("--pooling", s.pooling, "max or avg (default max)");
    app.add_option("--optimizer", o.optimizer, "lbfgs or adam (default lbfgs)");
    app.add_option("--learning-rate", o.learning_rate, "Adam's step size on a 0..255 scale (default 10)");
    app.add_option("--lbfgs-num-correction", o.lbfgs_num_correction, "L-BFGS history length (default 100)");
    app.add_flag("--lbfgs-line-search", o.lbfgs_line_search, "strong-Wolfe line search instead of neural-style's fixed "
                 "step; without it the loss jumps up for one iteration (the third) before it falls, so very short runs "
                 "(under about 10 iterations) end better with it");
    app.add_flag("--lbfgs-reserve-history", o.lbfgs_reserve_history, "take the memory of the whole L-BFGS history at "
                 "the start (on the CPU it is otherwise taken as the history fills): a print that cannot hold it fails in "
                 "its first seconds rather than hours in, and a short run shows the memory a long one needs (a GPU "
                 "always takes it at the start)");
    app.add_flag("--original-colors", o.original_colors, "keep the content's colours (luminance transfer)");
    app.add_option("--seed", o.seed, "random seed of --init random (default 0)")
        ->check(CLI::Validator(  // else CLI11 reads -1 as 2^64 - 1 without a word
            [](std::string& v) { return v.find('-') == std::string::npos ? std::string() : "must be 0 or more, not '" + v + "'"; },
            ""))
        ->type_name("N");
}

// After parsing: the lists into the options (an Error naming the flag on a bad number or pooling).
inline void apply_style_flags(const StyleFlagLists& s, StylizeOptions& o) {
    o.style_images = split(s.styles);
    o.style_blend_weights = split_numbers<double>(s.blend, "--style-blend-weights");
    o.coarse_style_layers = split(s.coarse_layers);
    if (s.coarse_layers_flag && s.coarse_layers_flag->count() > 0 && o.coarse_style_image.empty())
        throw Error("--coarse-style-layers applies only with --coarse-style-image: give that painting too, or leave the flag out");
    o.objective.content_layers = split(s.content_layers);
    o.objective.style_layers = split(s.style_layers);
    o.objective.pooling = parse_pooling(s.pooling);
}

}  // namespace nst::apps
