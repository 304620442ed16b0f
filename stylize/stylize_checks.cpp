// stylize's checks before the work (contract in stylize_checks.h and, for validate, stylize.h).
#include "stylize/stylize_checks.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/dispatch.h"
#include "layers/vgg19.h"
#include "stylize/write_targets.h"

namespace nst {

std::string checkpoint_path(const StylizeOptions& o) {
    return o.checkpoint.empty() ? o.output_image + ".ckpt.safetensors" : o.checkpoint;
}

void check_stylize_write_targets(const StylizeOptions& o) {
    std::vector<PathFlag> inputs = {{"--content-image", o.content_image, ""}, {"--weights", o.weights, ""},
                                    {"--init-image", o.init_image, ""}, {"--resume", o.resume, ""}};
    for (const std::string& s : o.style_images) inputs.push_back({"--style-image", s, ""});
    for (const std::string& m : o.style_masks) inputs.push_back({"--style-masks", m, ""});
    inputs.push_back({"--coarse-style-image", o.coarse_style_image, ""});
    check_write_targets({{"--output-image", o.output_image, ""},
                         // A resumed run goes on writing the checkpoint it resumed from.
                         {o.checkpoint.empty() ? "the checkpoint (--output-image + .ckpt.safetensors)" : "--checkpoint",
                          checkpoint_path(o), "--resume"},
                         {"--log-json", o.log_json, ""}},
                        inputs);
}

void validate(const StylizeOptions& o) {
    if (o.content_image.empty()) throw Error("--content-image is required");
    if (o.style_images.empty()) throw Error("--style-image is required");
    if (!o.style_blend_weights.empty() && o.style_blend_weights.size() != o.style_images.size())
        throw Error("--style-blend-weights has " + std::to_string(o.style_blend_weights.size()) + " values but " +
                    std::to_string(o.style_images.size()) + " style images were given");
    if (!o.style_masks.empty() && o.style_masks.size() != o.style_images.size())
        throw Error("--style-masks has " + std::to_string(o.style_masks.size()) + " masks but " +
                    std::to_string(o.style_images.size()) + " style images were given: one mask per style image");
    if (!o.style_masks.empty() && !o.style_blend_weights.empty())
        throw Error("--style-blend-weights does not apply with --style-masks: each region takes its own style image");
    if (!o.coarse_style_image.empty()) {
        if (o.coarse_style_layers.empty()) throw Error("--coarse-style-layers is empty");
        for (const auto& l : o.coarse_style_layers)
            if (std::find(o.objective.style_layers.begin(), o.objective.style_layers.end(), l) == o.objective.style_layers.end())
                throw Error("--coarse-style-layers: " + l + " is not one of the --style-layers");
    }
    auto check_size = [](int s, const char* flag) {
        if (s < 16 || s > 16384)
            throw Error(std::string(flag) + " " + std::to_string(s) + " is out of range (16..16384 pixels)");
    };
    check_size(o.image_size, "--image-size");
    for (int s : o.scales) check_size(s, "--scales");
    for (size_t i = 1; i < o.scales.size(); ++i)
        if (o.scales[i] < o.scales[i - 1]) throw Error("--scales must grow from coarse to fine");
    if (!(o.style_scale > 0) || o.style_scale > 16) throw Error("--style-scale must be in (0, 16]");
    if (o.num_iterations < 1) throw Error("--num-iterations must be at least 1");
    if (o.print_iter < 0 || o.save_iter < 0) throw Error("--print-iter and --save-iter must be >= 0");
    if (o.init != "random" && o.init != "image") throw Error("--init must be 'random' or 'image', not '" + o.init + "'");
    if (o.optimizer != "lbfgs" && o.optimizer != "adam") throw Error("--optimizer must be 'lbfgs' or 'adam', not '" + o.optimizer + "'");
    if (o.color_control != "none" && o.color_control != "luminance" && o.color_control != "histogram")
        throw Error("--color-control must be none, luminance or histogram, not '" + o.color_control + "'");
    if (!(o.learning_rate > 0)) throw Error("--learning-rate must be positive");
    if (o.lbfgs_num_correction < 1) throw Error("--lbfgs-num-correction must be at least 1");
    for (double w : {o.objective.content_weight, o.objective.style_weight, o.objective.tv_weight})
        if (!(w >= 0) || !std::isfinite(w)) throw Error("--content-weight, --style-weight and --tv-weight must be >= 0");
    const std::string ext = extension_of(o.output_image);
    if (ext != "png" && ext != "jpg" && ext != "jpeg")
        throw Error("--output-image " + o.output_image + ": the name must end in .png, .jpg or .jpeg");
    if (o.objective.style_layers.empty())
        throw Error("--style-layers is empty: name at least one layer (default relu1_1,relu2_1,relu3_1,relu4_1,relu5_1); "
                    "--style-weight 0 turns the style off");
    if (o.objective.content_layers.empty())
        throw Error("--content-layers is empty: name at least one layer (default relu4_2); --content-weight 0 turns the "
                    "content off");
    if (o.gpu < -1)
        throw Error("--gpu " + std::to_string(o.gpu) + ": a CUDA device index (0, 1, ...) or -1 for the CPU");
    for (const auto& l : union_of(o.objective.content_layers, o.objective.style_layers)) {
        try {
            VGG19::layer_index(l);
        } catch (const Error& e) {
            throw Error(std::string("--content-layers/--style-layers: ") + e.what());
        }
    }
    if (o.tile_size != 0 && (o.tile_size < 64 || o.tile_size % 16 != 0))
        throw Error("--tile-size " + std::to_string(o.tile_size) + ": use a multiple of 16, at least 64 (or 0 to tile "
                    "only when the image would not fit). Each tile also reads a halo of up to 96 pixels on every side "
                    "(half of relu5_1's 156-pixel receptive field), so smaller tiles would spend nearly all their work there");
    if (o.tile_size != 0 && !o.style_masks.empty())
        throw Error("--tile-size cannot be combined with --style-masks yet");
    if (o.tile_size != 0 && o.objective.normalize_gradients)
        throw Error("--tile-size cannot be combined with --normalize-gradients: it normalises by a whole layer's gradient");
    if (o.preview_port < -1 || o.preview_port > 65535)
        throw Error("--preview-port " + std::to_string(o.preview_port) + " is not a TCP port (0..65535; 0: any free one)");
    if (o.preview_linger < -1)
        throw Error("--preview-linger " + std::to_string(o.preview_linger) + ": seconds, 0 to stop at once, or -1 until Ctrl-C");
    parse_backend(o.backend);
    if (o.restart && !o.resume.empty())
        throw Error("--restart and --resume contradict each other: --restart starts afresh, --resume continues " + o.resume);
    if (o.precision != "fp32" && o.precision != "tf32")
        throw Error("--precision must be fp32 or tf32, not '" + o.precision + "'");
}

// Every scale must leave the content big enough for the poolings before the deepest layer used; said
// in terms of the flag and the image, with the size that would do.
void check_scales_fit_vgg(const Image& content, const std::vector<int>& scales, const StylizeOptions& o) {
    const auto& names = VGG19::layer_names();
    size_t deepest = 0;
    for (const auto* layers : {&o.objective.content_layers, &o.objective.style_layers})
        for (const std::string& l : *layers) {
            const auto it = std::find(names.begin(), names.end(), l);
            if (it != names.end()) deepest = std::max(deepest, size_t(it - names.begin()));
        }
    const int pools = int(std::count_if(names.begin(), names.begin() + long(deepest),
                                        [](const std::string& n) { return n.rfind("pool", 0) == 0; }));
    const int need = 1 << pools;
    const int longest = std::max(content.width, content.height), shortest = std::min(content.width, content.height);
    for (int s : scales) {
        const int short_side = std::max(1, int(std::lround(double(shortest) * s / longest)));
        if (short_side >= need) continue;
        const int enough = int(std::ceil(double(need) * longest / shortest));
        throw Error(std::string(o.scales.empty() ? "--image-size " : "--scales: ") + std::to_string(s) + " makes the content " +
                    std::to_string(content.width * s / longest) + "x" + std::to_string(content.height * s / longest) +
                    " pixels, too small for VGG-19's " + std::to_string(pools) + " poolings up to " + names[deepest] +
                    ", which need at least " + std::to_string(need) + " pixels on each side: use " + std::to_string(enough) +
                    " or more");
    }
}

}  // namespace nst
