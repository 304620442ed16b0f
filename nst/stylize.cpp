// The style-transfer driver (contract in stylize.h): images, pyramid, optimiser loop, printing, logs,
// intermediate images, checkpoints and resume, colour control.
#include "nst/stylize.h"

#include <cstdint>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/cuda_graph.h"
#include "core/dispatch.h"
#include "kernels/device.h"
#include "layers/vgg19.h"
#include "nst/color.h"
#include "nst/image.h"
#include "nst/optim.h"
#include "nst/write_targets.h"
#include "weights/safetensors.h"

namespace nst {

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

using clock_type = std::chrono::steady_clock;

std::string extension_of(const std::string& path) {
    const auto dot = path.find_last_of('.');
    const auto slash = path.find_last_of('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
    std::string e = path.substr(dot + 1);
    for (char& c : e) c = char(std::tolower((unsigned char)c));
    return e;
}

std::string with_suffix(const std::string& path, const std::string& suffix) {
    const std::string ext = extension_of(path);
    return path.substr(0, path.size() - ext.size() - 1) + suffix + "." + ext;
}

// Loads an image (absurd sizes are refused before decoding), naming the flag in errors.
Image load_checked(const std::string& path, const char* flag, int64_t max_pixels) {
    try {
        return load_image(path, max_pixels);
    } catch (const Error& e) {
        throw Error(std::string(flag) + ": " + e.what());
    }
}

size_t peak_memory(Device d) {
    if (d.is_cuda()) return cuda_memory_stats().peak_bytes_in_use;
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return size_t(ru.ru_maxrss) * 1024;
}

std::string human_seconds(double s) {
    std::ostringstream o;
    if (s >= 3600) o << int(s / 3600) << "h" << std::setw(2) << std::setfill('0') << (int(s) % 3600) / 60 << "m";
    else if (s >= 60) o << int(s / 60) << "m" << std::setw(2) << std::setfill('0') << int(s) % 60 << "s";
    else o << std::fixed << std::setprecision(1) << s << "s";
    return o.str();
}

// Everything that must match for a checkpoint to be resumed by this run.
std::string fingerprint(const StylizeOptions& o) {
    std::ostringstream f;
    f << o.content_image << "|";
    for (const auto& s : o.style_images) f << s << ",";
    f << "|";
    for (double b : o.style_blend_weights) f << b << ",";
    f << "|" << o.image_size << "|";
    for (int s : o.scales) f << s << ",";
    f << "|" << o.style_scale << "|" << o.weights << "|";
    for (const auto& l : o.objective.content_layers) f << l << ",";
    f << "|";
    for (const auto& l : o.objective.style_layers) f << l << ",";
    f << "|" << o.objective.content_weight << "|" << o.objective.style_weight << "|" << o.objective.tv_weight << "|"
      << o.objective.normalize_gradients << "|" << int(o.objective.pooling) << "|" << o.num_iterations << "|" << o.init
      << "|" << o.init_image << "|" << o.optimizer << "|" << o.learning_rate << "|" << o.lbfgs_num_correction << "|"
      << o.lbfgs_line_search << "|" << o.color_control << "|" << o.seed;
    return f.str();
}

// Turns an allocator's out-of-memory error into advice naming the size that was attempted; returns
// (for the caller to rethrow unchanged) for any other error.
void explain_out_of_memory(const Error& e, const Image& attempted) {
    if (std::string(e.what()).find("out of memory") == std::string::npos) return;
    throw Error("out of GPU memory at " + std::to_string(attempted.width) + "x" + std::to_string(attempted.height) + " (" +
                e.what() + "); try a smaller --image-size, or --scales to reach the size through a pyramid");
}

struct Checkpoint {
    int scale_index = 0, iteration = 0;
    Tensor x;
    OptimizerState state;
};

void save_checkpoint(const std::string& path, const StylizeOptions& o, int scale_index, int iteration, const Tensor& x,
                     const Optimizer& opt) {
    weights::WeightFile f;
    f.tensors["x"] = {x.shape(), x.to_vector<float>()};
    const OptimizerState st = opt.save();
    for (const auto& [k, t] : st.tensors) f.tensors["opt." + k] = {t.shape(), t.to_vector<float>()};
    for (const auto& [k, v] : st.numbers) {
        std::ostringstream s;
        s << std::setprecision(17) << v;
        f.metadata["opt." + k] = s.str();
    }
    f.metadata["nst_checkpoint"] = "1";
    f.metadata["optimizer"] = opt.name();
    f.metadata["scale_index"] = std::to_string(scale_index);
    f.metadata["iteration"] = std::to_string(iteration);
    f.metadata["fingerprint"] = fingerprint(o);
    weights::write_safetensors(path, f);
}

Checkpoint load_checkpoint(const std::string& path, const StylizeOptions& o, Device d) {
    weights::WeightFile f = weights::read_safetensors(path);
    if (!f.metadata.count("nst_checkpoint")) throw Error("--resume " + path + ": not a stylize checkpoint");
    if (f.metadata["fingerprint"] != fingerprint(o))
        throw Error("--resume " + path + ": the checkpoint was made with different images or options; resume with the "
                    "same command line it was started with");
    if (f.metadata["optimizer"] != o.optimizer) throw Error("--resume " + path + ": made with --optimizer " + f.metadata["optimizer"]);
    Checkpoint c;
    const int scales = o.scales.empty() ? 1 : int(o.scales.size());
    try {
        c.scale_index = std::stoi(f.metadata.at("scale_index"));
        c.iteration = std::stoi(f.metadata.at("iteration"));
    } catch (const std::exception&) {
        throw Error("--resume " + path + ": the checkpoint's position (scale, iteration) is missing or malformed");
    }
    if (c.scale_index < 0 || c.scale_index >= scales || c.iteration < 1 || c.iteration > o.num_iterations)
        throw Error("--resume " + path + ": the checkpoint's position (scale, iteration) is out of range");
    for (auto& [k, t] : f.tensors) {
        Tensor v = Tensor::from_vector(t.values, t.shape).to(d);
        if (k == "x") c.x = v;
        else if (k.rfind("opt.", 0) == 0) c.state.tensors[k.substr(4)] = v;
    }
    for (auto& [k, v] : f.metadata) {
        if (k.rfind("opt.", 0) != 0) continue;
        try {
            c.state.numbers[k.substr(4)] = std::stod(v);
        } catch (const std::exception&) {
            throw Error("--resume " + path + ": optimizer value '" + k + "' is not a number");
        }
    }
    if (!c.x.defined()) throw Error("--resume " + path + ": the checkpoint holds no image");
    return c;
}

}  // namespace

void validate(const StylizeOptions& o) {
    if (o.content_image.empty()) throw Error("--content-image is required");
    if (o.style_images.empty()) throw Error("--style-image is required");
    if (!o.style_blend_weights.empty() && o.style_blend_weights.size() != o.style_images.size())
        throw Error("--style-blend-weights has " + std::to_string(o.style_blend_weights.size()) + " values but " +
                    std::to_string(o.style_images.size()) + " style images were given");
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
    for (const auto& l : union_of(o.objective.content_layers, o.objective.style_layers)) {
        try {
            VGG19::layer_index(l);
        } catch (const Error& e) {
            throw Error(std::string("--content-layers/--style-layers: ") + e.what());
        }
    }
    parse_backend(o.backend);
}

void request_stop() { g_stop.store(true); }

// --cuda-graph: evaluations 1 and 2 run eagerly (caches and library workspaces reach their size), the
// third is captured as a CUDA graph (core/cuda_graph.h) and every later one replays it, as long as the
// optimizer passes the same x and g (it updates both in place; anything else runs eagerly). The loss is
// cloned after each replay because the optimizer may keep it while the graph overwrites its own. If the
// capture fails, the run says so once and goes on eagerly. One graph per scale (a new objective).
class GraphedEvaluation {
  public:
    GraphedEvaluation(bool enabled, std::ostream& log) : enabled_(enabled), log_(log) {}

    Tensor operator()(StyleObjective& obj, const Tensor& x, Tensor& g) {
        if (!enabled_) return obj.evaluate(x, g);
        if (graph_.captured() && x.data<float>() == x_ptr_ && g.data<float>() == g_ptr_) {
            graph_.replay();
            return loss_.clone();
        }
        if (++eager_ <= 2 || graph_.captured()) return obj.evaluate(x, g);
        try {
            graph_.capture([&] { loss_ = obj.evaluate(x, g); });
        } catch (const Error& e) {
            log_ << "CUDA graph: capture failed, evaluating eagerly (" << e.what() << ")" << std::endl;
            enabled_ = false;
            return obj.evaluate(x, g);
        }
        x_ptr_ = x.data<float>();
        g_ptr_ = g.data<float>();
        graph_.replay();
        return loss_.clone();
    }

  private:
    bool enabled_;
    std::ostream& log_;
    CudaGraph graph_;
    Tensor loss_;
    const float* x_ptr_ = nullptr;
    const float* g_ptr_ = nullptr;
    int eager_ = 0;
};

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

StylizeResult stylize(const StylizeOptions& o_in, std::ostream& log) {
    g_stop.store(false);
    StylizeOptions o = o_in;
    validate(o);
    if (!o.init_image.empty() && o.init != "image")
        log << "warning: --init-image " << o.init_image << " is used only with --init image; this run starts from "
            << o.init << " noise as --init " << o.init << " says" << std::endl;
    if (o.weights.empty()) o.weights = weights::find_default_weights();
    if (o.weights.empty())
        throw Error("no VGG-19 weights: pass --weights, set NST_WEIGHTS, or run scripts/get-weights.sh");
    const std::string ckpt_path = o.checkpoint.empty() ? o.output_image + ".ckpt.safetensors" : o.checkpoint;
    {
        // Every file the run may write, against every file it reads, before any work.
        std::vector<PathFlag> inputs = {{"--content-image", o.content_image, ""}, {"--weights", o.weights, ""},
                                        {"--init-image", o.init_image, ""}, {"--resume", o.resume, ""}};
        for (const std::string& s : o.style_images) inputs.push_back({"--style-image", s, ""});
        check_write_targets({{"--output-image", o.output_image, ""},
                             // A resumed run goes on writing the checkpoint it resumed from.
                             {o.checkpoint.empty() ? "the checkpoint (--output-image + .ckpt.safetensors)" : "--checkpoint",
                              ckpt_path, "--resume"},
                             {"--log-json", o.log_json, ""}},
                            inputs);
    }
    set_backend(parse_backend(o.backend));

    Device dev = Device::cpu();
    if (o.gpu >= 0) {
        set_cuda_device(o.gpu);
        dev = Device::cuda(o.gpu);
    }
    const weights::Vgg19Weights w = [&] {
        try {
            return weights::load_vgg19_weights(o.weights);
        } catch (const Error& e) {
            throw Error(std::string("--weights: ") + e.what());
        }
    }();

    // ---- images, and colour control applied to the inputs ----
    const Image content_full = load_checked(o.content_image, "--content-image", o.max_pixels);
    std::vector<Image> styles_full;
    for (const auto& s : o.style_images) styles_full.push_back(load_checked(s, "--style-image", o.max_pixels));
    Image init_full;
    if (o.init == "image" && !o.init_image.empty()) init_full = load_checked(o.init_image, "--init-image", o.max_pixels);
    auto prepare_style = [&](const Tensor& style, const Tensor& content) {
        if (o.color_control == "histogram") return match_color_histogram(style, content);
        if (o.color_control == "luminance") return match_luminance(luminance_image(style), luminance_image(content));
        return style;
    };

    std::vector<int> scales = o.scales.empty() ? std::vector<int>{o.image_size} : o.scales;
    check_scales_fit_vgg(content_full, scales, o);
    std::optional<Checkpoint> resume;
    if (!o.resume.empty()) {
        resume = load_checkpoint(o.resume, o, dev);
        log << "resuming " << o.resume << " at scale " << scales[size_t(resume->scale_index)] << ", iteration "
            << resume->iteration << "\n";
    }

    nlohmann::json jlog;
    jlog["content_image"] = o.content_image;
    jlog["style_images"] = o.style_images;
    jlog["device"] = dev.str();
    jlog["weights"] = o.weights;
    jlog["iterations"] = nlohmann::json::array();
    auto write_json = [&](const StylizeResult* r) {
        if (o.log_json.empty()) return;
        if (r)
            jlog["summary"] = {{"evaluations", r->evaluations},
                               {"seconds", r->seconds},
                               {"seconds_per_evaluation", r->seconds_per_evaluation},
                               {"initial_loss", r->initial_loss},
                               {"final_loss", r->final_loss},
                               {"peak_memory_bytes", r->peak_memory_bytes},
                               {"device", r->device}};
        weights::write_file_atomic(o.log_json, jlog.dump(2) + "\n");
    };

    StylizeResult result;
    result.device = dev.str() + (dev.is_cuda() ? " (" + cuda_availability().device_name + ")" : "");
    Tensor previous_rgb;  // the result of the previous scale, RGB 0..1 on the CPU
    Tensor content_scaled_rgb;
    const auto t_start = clock_type::now();
    bool first_loss = true;

    for (size_t si = 0; si < scales.size(); ++si) {
        if (resume && int(si) < resume->scale_index) continue;
        const int size = scales[si];
        const Image content_img = resize_longest(content_full, size);
        content_scaled_rgb = image_to_tensor(content_img);
        std::vector<Tensor> styles;
        const int style_size = int(std::ceil(o.style_scale * size));
        for (const Image& s : styles_full) styles.push_back(prepare_style(image_to_tensor(resize_longest(s, style_size)), content_scaled_rgb));
        const Tensor content_for_net =
            o.color_control == "luminance" ? luminance_image(content_scaled_rgb) : content_scaled_rgb;

        std::optional<StyleObjective> objective;
        try {
            objective.emplace(w, dev, o.objective, content_for_net, styles, o.style_blend_weights);
        } catch (const Error& e) {
            explain_out_of_memory(e, content_img);
            throw;
        }
        const VGG19& net = objective->net();
        const double s = objective->weight_scale();

        // ---- the start point, in the network's input space ----
        Tensor x;
        if (resume && int(si) == resume->scale_index) {
            x = resume->x;
            if (x.shape() != Shape{1, 3, content_img.height, content_img.width})
                throw Error("--resume: the checkpoint's image size does not match this scale");
        } else if (previous_rgb.defined()) {
            const Image up = resize(tensor_to_image(previous_rgb), content_img.width, content_img.height);
            Tensor rgb = image_to_tensor(up);
            if (o.color_control == "luminance") rgb = luminance_image(rgb);  // this scale works on luminance too
            x = net.preprocess(rgb).to(dev);
        } else if (o.init == "image") {
            const Image init = init_full.width ? resize(init_full, content_img.width, content_img.height) : content_img;
            Tensor rgb = image_to_tensor(init);
            if (o.color_control == "luminance") rgb = luminance_image(rgb);
            x = net.preprocess(rgb).to(dev);
        } else {
            // neural-style: randn * 0.001 around the mean colour, on a 0..255 scale.
            x = scale(Tensor::randn({1, 3, content_img.height, content_img.width}, o.seed), 0.001 / s).to(dev);
        }

        std::unique_ptr<Optimizer> opt;
        if (o.optimizer == "lbfgs")
            opt = make_lbfgs(x.numel(), dev, {o.lbfgs_num_correction, 1.0, o.lbfgs_line_search});
        else
            opt = make_adam(x.numel(), dev, {o.learning_rate / s});
        GraphedEvaluation graphed(o.cuda_graph && dev.is_cuda(), log);
        auto f = [&](const Tensor& xx, Tensor& g) { return graphed(*objective, xx, g); };

        auto postprocess = [&](const Tensor& xx) {
            Tensor rgb = net.deprocess(xx.cpu());
            if (o.color_control == "luminance" || o.original_colors) {
                // Clamp first: the colour transform assumes valid pixels.
                rgb = image_to_tensor(tensor_to_image(rgb));
                rgb = original_colors(rgb, content_scaled_rgb);
            }
            return rgb;
        };

        // ---- the loop: evaluation k is "iteration k" ----
        const int N = o.num_iterations;
        int it = 1;
        Tensor last_good = x.clone();
        int last_good_it = 0;
        const auto t_scale = clock_type::now();
        // The rate for the ETA is measured from the end of the second iteration on: the first carries the
        // setup (weight preparation, buffers, first-touch of memory) and would promise a slow run.
        int steady_k = 0;
        clock_type::time_point steady_t;
        int evals_at_start = 0, first_iteration = 1;
        if (resume && int(si) == resume->scale_index) {
            opt->load(resume->state);
            it = resume->iteration;
            first_iteration = it;
            evals_at_start = opt->evaluations();
            resume.reset();
        } else {
            opt->begin(x, f);
        }
        auto on_evaluated = [&](int k) {
            const bool print = o.print_iter > 0 && (k % o.print_iter == 0 || k == 1 || k == N);
            const bool save = o.save_iter > 0 && k % o.save_iter == 0 && k < N;
            if (print || save || k % 10 == 0 || k == 1 || k == N) {
                const double total = objective->last().total.item();
                if (first_loss) result.initial_loss = total, first_loss = false;
                if (!std::isfinite(total)) {
                    save_image(tensor_to_image(postprocess(last_good)), o.output_image);
                    throw Error("the loss became " + std::string(std::isnan(total) ? "NaN" : "infinite") + " at iteration " +
                                std::to_string(k) + "; the last good image (iteration " + std::to_string(last_good_it) +
                                ") was saved to " + o.output_image + ". Try lower weights or --optimizer lbfgs.");
                }
                result.final_loss = total;
                last_good.copy_(x);
                last_good_it = k;
            }
            if (k == first_iteration + 1) steady_k = k, steady_t = clock_type::now();
            if (print) {
                const LossTerms& t = objective->last();
                const auto now = clock_type::now();
                const bool steady = steady_k > 0 && k > steady_k;
                const double el = std::chrono::duration<double>(now - (steady ? steady_t : t_scale)).count();
                const int done = steady ? k - steady_k : k - first_iteration;
                const double rate = el > 0 ? done / el : 0;
                std::ostringstream line;
                line << std::setprecision(4) << "scale " << size << "  iter " << k << "/" << N << "  content";
                nlohmann::json entry = {{"scale", size}, {"iteration", k}};
                std::vector<double> cs, ss;
                // Each term under its layer's name (several style images share a layer's term).
                const auto label = [](const std::vector<std::string>& names, size_t i, size_t n) {
                    return n == names.size() ? " " + names[i] : std::string();
                };
                for (size_t i = 0; i < t.content.size(); ++i)
                    cs.push_back(t.content[i].item()),
                        line << label(o.objective.content_layers, i, t.content.size()) << " " << cs.back();
                line << "  style";
                for (size_t i = 0; i < t.style.size(); ++i)
                    ss.push_back(t.style[i].item()), line << label(o.objective.style_layers, i, t.style.size()) << " " << ss.back();
                const double tv = t.tv.item(), total = t.total.item();
                line << "  tv " << tv << "  total " << total << "  ";
                if (steady)
                    line << std::setprecision(3) << rate << " it/s  ETA " << human_seconds(rate > 0 ? (N - k) / rate : 0);
                else
                    line << (k == N ? "done" : "ETA: measuring");
                log << line.str() << std::endl;
                entry["content"] = cs;
                entry["style"] = ss;
                entry["tv"] = tv;
                entry["total"] = total;
                entry["seconds"] = std::chrono::duration<double>(clock_type::now() - t_start).count();
                jlog["iterations"].push_back(entry);
            }
            if (save) {
                save_image(tensor_to_image(postprocess(x)), with_suffix(o.output_image, "_" + std::to_string(size) + "_" + std::to_string(k)));
                save_checkpoint(ckpt_path, o, int(si), k, x, *opt);
                write_json(nullptr);
            }
        };
        try {
            if (evals_at_start == 0) on_evaluated(1);
            for (; it <= N; ++it) {
                opt->step(x, f, it < N);
                if (it < N) on_evaluated(it + 1);
                if (g_stop.load() && it < N) {  // stop at an iteration boundary, nothing lost
                    save_image(tensor_to_image(postprocess(x)), o.output_image);
                    save_checkpoint(ckpt_path, o, int(si), it + 1, x, *opt);
                    write_json(nullptr);
                    throw Interrupted("interrupted at iteration " + std::to_string(it + 1) + " of scale " +
                                      std::to_string(size) + ": the current image is in " + o.output_image +
                                      " and a checkpoint in " + ckpt_path + "; continue with --resume " + ckpt_path);
                }
            }
        } catch (const Error& e) {
            explain_out_of_memory(e, content_img);
            throw;
        }
        cuda_synchronize();
        result.evaluations += opt->evaluations() - evals_at_start;
        previous_rgb = postprocess(x);
        if (si + 1 < scales.size() && o.print_iter > 0) log << "scale " << size << " done" << std::endl;
    }

    save_image(tensor_to_image(previous_rgb), o.output_image);
    result.seconds = std::chrono::duration<double>(clock_type::now() - t_start).count();
    result.seconds_per_evaluation = result.evaluations ? result.seconds / result.evaluations : 0;
    result.peak_memory_bytes = peak_memory(dev);
    write_json(&result);
    return result;
}

}  // namespace nst
