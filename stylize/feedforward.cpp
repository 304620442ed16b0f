// stylize --model (contract in feedforward.h).
#include "stylize/feedforward.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <sstream>

#include "core/autograd.h"
#include "core/dispatch.h"
#include "core/ops.h"
#include "layers/transformer_net.h"
#include "media/color.h"
#include "stylize/stylize.h"
#include "stylize/write_targets.h"
#include "weights/vgg19_weights.h"

namespace nst {

StyleNetwork load_style_network(const ModelOptions& o, Device d) { return StyleNetwork::load(o.model, d, "--model"); }

Device open_model_device(const ModelOptions& o) {
    StylizeOptions s;
    s.gpu = o.gpu;
    s.backend = o.backend;
    return open_device(s);
}

std::vector<float> parse_style_mix(const std::string& spec, int styles) {
    const std::string flag = "--style-mix " + spec + ": ";
    if (spec.empty()) throw Error("--style-mix: give a style number (0.." + std::to_string(styles - 1) + ") or weights such as 3:0.5,12:0.5");
    std::vector<double> w(size_t(styles), 0.0);
    std::stringstream items(spec);
    std::string item;
    while (std::getline(items, item, ',')) {
        const size_t colon = item.find(':');
        const std::string num = item.substr(0, colon), weight = colon == std::string::npos ? "1" : item.substr(colon + 1);
        size_t used = 0, used_w = 0;
        long k = -1;
        double v = 0;
        try {
            k = std::stol(num, &used);
            v = std::stod(weight, &used_w);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != num.size() || used_w != weight.size())
            throw Error(flag + "'" + item + "' is not STYLE or STYLE:WEIGHT");
        if (k < 0 || k >= styles)
            throw Error(flag + "style " + num + " does not exist: this network has styles 0.." + std::to_string(styles - 1));
        if (!std::isfinite(v) || v < 0) throw Error(flag + "weights must be numbers >= 0, not " + weight);
        w[size_t(k)] += v;
    }
    double total = 0;
    for (double v : w) total += v;
    if (!(total > 0)) throw Error(flag + "the weights sum to 0");
    std::vector<float> out;
    for (double v : w) out.push_back(float(v / total));
    return out;
}

ModelResult stylize_with_model(const ModelOptions& o, std::ostream& log) {
    if (o.model.empty()) throw Error("--model: give a network file");
    if (o.content_image.empty()) throw Error("--content-image is required");
    if (o.image_size < 0) throw Error("--image-size must be >= 0 (0: the photo's own size)");
    check_write_targets({{"--output-image", o.output_image, ""}},
                        {{"--model", o.model, ""}, {"--content-image", o.content_image, ""}});
    if (const std::string ext = extension_of(o.output_image); ext != "png" && ext != "jpg" && ext != "jpeg")
        throw Error("--output-image " + o.output_image + ": must end in .png, .jpg or .jpeg");
    const Device d = open_model_device(o);
    StyleNetwork net = load_style_network(o, d);
    if (net.styles() > 0) {
        if (o.style_mix.empty())
            throw Error("--model " + o.model + " holds " + std::to_string(net.styles()) + " styles: choose with --style-mix (e.g. 0, or 3:0.5,12:0.5)");
        net.set_style_mix(parse_style_mix(o.style_mix, net.styles()));
    } else if (!o.style_mix.empty()) {
        throw Error("--style-mix: --model " + o.model + " holds one style");
    }
    Image photo;
    try {
        photo = load_image(o.content_image, o.max_pixels);
    } catch (const Error& e) {
        throw Error(std::string("--content-image: ") + e.what());
    }
    if (o.image_size > 0) photo = resize_longest(photo, o.image_size);
    if (photo.width < net.multiple() || photo.height < net.multiple())  // reflect padding needs more than the pad
        throw Error("--content-image " + o.content_image + ": " + std::to_string(photo.width) + "x" + std::to_string(photo.height) +
                    " is too small for the network (at least " + std::to_string(net.multiple()) + "x" + std::to_string(net.multiple()) + ")");
    ModelResult r;
    r.width = photo.width, r.height = photo.height, r.styles = net.styles();
    r.device = d.str();
    log << "stylize --model: " << net.describe() << " ("
        << (net.styles() ? std::to_string(net.styles()) + " styles" : std::string("one style")) << ") on "
        << photo.width << "x" << photo.height << ", " << r.device << std::endl;
    const Tensor content = image_to_tensor(photo);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor out;
    {
        NoGradGuard no_grad;
        out = net.apply(content.to(d)).cpu();
    }
    cuda_synchronize();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.original_colors) out = original_colors(image_to_tensor(tensor_to_image(out)), content);
    save_image(tensor_to_image(out), o.output_image);
    return r;
}

}  // namespace nst
