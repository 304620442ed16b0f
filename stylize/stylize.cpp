// The style-transfer driver (contract in stylize.h): loads the inputs, optimises scale by scale, and
// writes intermediates, checkpoints and the result. Its parts live beside it: the checks before any work
// (stylize_checks.cpp), checkpoints and resume by content (checkpoint.cpp), the printed progress and JSON
// log (progress.cpp), and the CUDA-graph evaluation (graphed_evaluation.cpp).
#include "stylize/stylize.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <ostream>

#include "core/allocator.h"
#include "core/dispatch.h"
#include "dist/communicator.h"
#include "base/device.h"
#include "layers/vgg19.h"
#include "stylize/checkpoint.h"
#include "media/color.h"
#include "nst/graphed_evaluation.h"
#include "media/image.h"
#include "optim/optim.h"
#include "preview/preview_server.h"
#include "stylize/progress.h"
#include "stylize/sharded_optimizer.h"
#include "stylize/stylize_checks.h"
#include "nst/tiled_objective.h"
#include "weights/vgg19_weights.h"

namespace nst {

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

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

// Called from a catch block: an out-of-memory error (the GPU allocator's, or the host's bad_alloc)
// becomes advice naming the size that was attempted; anything else is rethrown unchanged.
[[noreturn]] void rethrow_explaining_memory(const Image& attempted, Device d) {
    const std::string size = std::to_string(attempted.width) + "x" + std::to_string(attempted.height);
    const std::string advice = "; try a smaller --image-size, or --scales to reach the size through a pyramid";
    try {
        throw;
    } catch (const std::bad_alloc&) {
        throw Error("out of host memory at " + size + " (an allocation failed)" + advice +
                    (d.is_cuda() ? "" : ", or --gpu 0 where a GPU has more memory"));
    } catch (const Error& e) {
        if (std::string(e.what()).find("out of memory") == std::string::npos) throw;
        throw Error(std::string("out of ") + (d.is_cuda() ? "GPU" : "host") + " memory at " + size + " (" + e.what() + ")" +
                    advice);
    }
}

// Everything a run reads before the first scale.
struct Inputs {
    weights::Vgg19Weights w;
    Image content;
    std::vector<Image> styles;
    Image init;                 // empty unless --init image --init-image
    std::vector<Image> masks;   // --style-masks, grey in every channel
    Image coarse;               // --coarse-style-image, or empty
};

// A mask as stored: greyscale (any colour image is taken as its mean), refused when nothing is white.
Image load_mask(const std::string& path, size_t index, int64_t max_pixels) {
    Image m = load_checked(path, "--style-masks", max_pixels);
    float peak = 0;
    for (size_t p = 0; p < m.rgb.size(); p += 3) {
        const float v = (m.rgb[p] + m.rgb[p + 1] + m.rgb[p + 2]) / 3.0f;
        m.rgb[p] = m.rgb[p + 1] = m.rgb[p + 2] = v;
        peak = std::max(peak, v);
    }
    if (peak < 0.5f / 255.0f)
        throw Error("--style-masks " + path + ": the mask is black everywhere, so style image " + std::to_string(index + 1) +
                    " would apply nowhere; white marks where it applies");
    return m;
}

// A mask is drawn on the content's geometry: one of another shape would be stretched, so it is refused;
// one of the same shape and another size is scaled, and that is said. "The same shape" allows what
// rounding a side to whole pixels does: within a pixel at either image's size, or within 1%.
void check_mask_geometry(const Image& m, const Image& content, const std::string& path, std::ostream& log) {
    if (m.width == content.width && m.height == content.height) return;
    const auto size = [](const Image& i) { return std::to_string(i.width) + "x" + std::to_string(i.height); };
    const double mask_h = double(m.width) * content.height / content.width;     // the mask's height if of the same shape
    const double content_h = double(content.width) * m.height / m.width;        // the content's, likewise
    const bool rounding = std::abs(mask_h - m.height) <= 1 || std::abs(content_h - content.height) <= 1 ||
                          std::abs(mask_h / m.height - 1.0) <= 0.01;
    if (!rounding)
        throw Error("--style-masks " + path + ": the mask is " + size(m) + " but the content image is " + size(content) +
                    ", another shape: it would be stretched; draw the mask on the content's geometry (" + size(content) +
                    " or the same shape at any size)");
    log << "note: --style-masks " << path << " (" << size(m) << ") is scaled to the content's " << size(content) << std::endl;
}

Inputs load_inputs(const StylizeOptions& o, std::ostream& log) {
    Inputs in;
    try {
        in.w = weights::load_vgg19_weights(o.weights);
    } catch (const Error& e) {
        throw Error(std::string("--weights: ") + e.what());
    }
    in.content = load_checked(o.content_image, "--content-image", o.max_pixels);
    for (const auto& s : o.style_images) in.styles.push_back(load_checked(s, "--style-image", o.max_pixels));
    if (o.init == "image" && !o.init_image.empty()) in.init = load_checked(o.init_image, "--init-image", o.max_pixels);
    for (size_t i = 0; i < o.style_masks.size(); ++i) in.masks.push_back(load_mask(o.style_masks[i], i, o.max_pixels));
    for (size_t i = 0; i < in.masks.size(); ++i) check_mask_geometry(in.masks[i], in.content, o.style_masks[i], log);
    if (!o.coarse_style_image.empty())
        in.coarse = load_checked(o.coarse_style_image, "--coarse-style-image", o.max_pixels);
    return in;
}

// The whole run's state, across scales.
struct Run {
    const StylizeOptions& o;
    std::ostream& log;
    Device dev;
    Inputs in;
    RunFingerprint fp;
    std::vector<int> scales;
    std::string ckpt_path;
    std::optional<Checkpoint> resume;
    Progress progress;
    StylizeResult result;
    bool first_loss = true, wrote_checkpoint = false, resumed_in_place = false;
    Tensor previous_rgb{};  // the result of the previous scale, RGB 0..1 on the CPU
    std::set<std::string> warned_writes{};  // flags whose write failed once (a full disk): said once
    PreviewServer* preview = nullptr;  // --preview-port; owned by stylize()
    std::chrono::steady_clock::time_point preview_terms_at{}, preview_image_at{};
    // mpirun stylize (issue #25): every rank runs this driver alike (the same collectives in the same
    // order); rank 0 alone prints and writes files.
    dist::Communicator& ranks = dist::world();
    bool speaks() const { return ranks.is_root(); }
};

// One scale's state.
struct Scale {
    size_t index = 0;
    int size = 0;
    Image content_img;
    Tensor content_rgb;  // RGB 0..1 at this scale, on the CPU
    std::unique_ptr<Objective> objective;  // whole-image, or tiled (--tile-size, or when it would not fit)
    std::unique_ptr<Optimizer> opt;
    Tensor x;                  // the image being optimised, in the network's input space, on the device
    Tensor last_good;          // x at the last iteration whose loss was finite
    int last_good_it = 0;
};

Tensor with_color_control(const StylizeOptions& o, const Tensor& style, const Tensor& content) {
    if (o.color_control == "histogram") return match_color_histogram(style, content);
    if (o.color_control == "luminance") return match_luminance(luminance_image(style), luminance_image(content));
    return style;
}

// The network's input from an RGB image at this scale (luminance only with --color-control luminance).
Tensor network_input(const Run& r, const Scale& sc, const Image& img) {
    Tensor rgb = image_to_tensor(img);
    if (r.o.color_control == "luminance") rgb = luminance_image(rgb);
    return sc.objective->net().preprocess(rgb).to(r.dev);
}

Tensor start_point(Run& r, const Scale& sc) {
    const int w = sc.content_img.width, h = sc.content_img.height;
    if (r.resume && int(sc.index) == r.resume->scale_index) {
        if (r.resume->x.shape() != Shape{1, 3, h, w})
            throw Error("--resume: the checkpoint's image size does not match this scale");
        return r.resume->x.to(r.dev);
    }
    if (r.previous_rgb.defined()) return network_input(r, sc, resize(tensor_to_image(r.previous_rgb), w, h));
    if (r.o.init == "image") return network_input(r, sc, r.in.init.width ? resize(r.in.init, w, h) : sc.content_img);
    return noise_start(h, w, r.o.seed, sc.objective->weight_scale(), r.dev);
}

// x as the RGB 0..1 image the user sees, original colours restored where asked.
Tensor postprocess(const Run& r, const Scale& sc, const Tensor& x) {
    Tensor rgb = sc.objective->net().deprocess(x.cpu());
    if (r.o.color_control == "luminance" || r.o.original_colors) {
        rgb = image_to_tensor(tensor_to_image(rgb));  // clamp first: the colour transform assumes valid pixels
        rgb = original_colors(rgb, sc.content_rgb);
    }
    return rgb;
}

// The image-sized vectors a run keeps beside the network: x, its gradient, the optimiser's history
// (L-BFGS: 2 per correction, and its direction and previous gradient; Adam: two moments), float32.
size_t optimizer_state_bytes(const StylizeOptions& o, int64_t h, int64_t w) {
    const size_t vectors = o.optimizer == "lbfgs" ? size_t(2 * o.lbfgs_num_correction + 6) : 8;
    return vectors * size_t(h) * size_t(w) * 3 * sizeof(float);
}

// --tile-size, or 0 (automatic): tiles only when one whole-image evaluation and the optimiser's state
// would take more than 70% of the memory the device has available, then the largest tile that fits.
int64_t tile_size_for(const Run& r, const Scale& sc) {
    const StylizeOptions& o = r.o;
    if (o.tile_size > 0) return o.tile_size;
    const int64_t h = sc.content_img.height, w = sc.content_img.width;
    const size_t available = available_memory(r.dev);
    if (available == 0 || !o.style_masks.empty() || o.objective.normalize_gradients) return 0;
    const size_t budget = available / 10 * 7, state = optimizer_state_bytes(o, h, w);
    const auto gib = [](size_t b) { return std::to_string(double(b) / double(1ull << 30)).substr(0, 5) + " GiB"; };
    if (state >= budget)
        throw Error("at " + std::to_string(w) + "x" + std::to_string(h) + " the optimiser's state alone takes about " +
                    gib(state) + " of the " + gib(available) + " available on " + r.dev.str() +
                    ": lower --lbfgs-num-correction (now " + std::to_string(o.lbfgs_num_correction) +
                    "), use --optimizer adam, or a smaller --image-size");
    if (evaluation_bytes(h, w) <= budget - state) return 0;
    const int64_t halo = halo_for_layers(union_of(o.objective.content_layers, o.objective.style_layers));
    const int64_t tile = choose_tile_size(halo, budget - state);
    if (tile <= 0)
        throw Error("at " + std::to_string(w) + "x" + std::to_string(h) + " not even 64-pixel tiles fit in the " +
                    gib(budget - state) + " left beside the optimiser's state: use a smaller --image-size");
    return tile;
}

void set_up_scale(Run& r, Scale& sc) {
    const StylizeOptions& o = r.o;
    sc.content_rgb = image_to_tensor(sc.content_img);
    std::vector<Tensor> styles;
    const int style_size = int(std::ceil(o.style_scale * sc.size));
    for (const Image& s : r.in.styles)
        styles.push_back(with_color_control(o, image_to_tensor(resize_longest(s, style_size)), sc.content_rgb));
    const Tensor content = o.color_control == "luminance" ? luminance_image(sc.content_rgb) : sc.content_rgb;
    StyleControls controls;
    if (r.in.coarse.width) {
        controls.coarse_style = with_color_control(o, image_to_tensor(resize_longest(r.in.coarse, style_size)), sc.content_rgb);
        controls.coarse_layers = o.coarse_style_layers;
    }
    for (const Image& m : r.in.masks) {  // on the content's geometry at this scale, one channel (all are equal)
        const Image small = resize(m, sc.content_img.width, sc.content_img.height);
        std::vector<float> grey(small.rgb.size() / 3);
        for (size_t p = 0; p < grey.size(); ++p) grey[p] = small.rgb[3 * p];
        controls.masks.push_back(Tensor::from_vector(grey, {1, 1, small.height, small.width}));
    }
    const int64_t tile = tile_size_for(r, sc);
    if (tile > 0) {
        sc.objective = std::make_unique<TiledObjective>(r.in.w, r.dev, o.objective, content, styles, o.style_blend_weights,
                                                        controls, tile, &r.ranks);
        const TileGrid& g = static_cast<const TiledObjective&>(*sc.objective).grid();
        r.log << "scale " << sc.size << ": " << g.tiles.size() << (g.tiles.size() == 1 ? " tile of " : " tiles of ") << g.tile
              << " pixels, each with a "
              << g.halo << "-pixel halo" << std::endl;
    } else {
        sc.objective = std::make_unique<StyleObjective>(r.in.w, r.dev, o.objective, content, styles,
                                                        o.style_blend_weights, controls);
    }
    sc.x = start_point(r, sc);
    sc.opt = make_optimizer(o, sc.x.numel(), r.dev, sc.objective->weight_scale(), &r.ranks);
}

// --preview-port: the terms at most 4 times a second and the image at most once a second (each image is
// a copy off the GPU), so a browser never slows the run; the last iteration always. The server encodes
// and sends on its own threads.
// terms: the ones the progress line just read, if it printed (else they are read here).
void publish_preview(Run& r, const Scale& sc, int k, TermValues terms = {}, const Tensor& rgb = Tensor()) {
    using namespace std::chrono_literals;
    if (!r.preview) return;
    const auto now = std::chrono::steady_clock::now();
    const bool last = k == r.o.num_iterations || rgb.defined();
    if (!last && now - r.preview_terms_at < 250ms) return;
    PreviewFrame f;
    f.iteration = k;
    f.total = r.o.num_iterations;
    if (!terms.empty()) f.terms = std::move(terms);
    else if (sc.objective->last().total.defined()) f.terms = r.progress.terms_of(sc.objective->last());  // not after a finished checkpoint
    if (last || now - r.preview_image_at >= 1s) {
        const Image img = tensor_to_image(rgb.defined() ? rgb : postprocess(r, sc, sc.x));
        f.width = img.width, f.height = img.height;
        f.rgb.resize(img.rgb.size());
        for (size_t i = 0; i < img.rgb.size(); ++i) f.rgb[i] = uint8_t(std::lround(img.rgb[i] * 255.0f));
        r.preview_image_at = now;
    }
    r.preview->publish(std::move(f));
    r.preview_terms_at = now;
}

// A write the run can live without (issue #22: a full disk never ends a run): an intermediate image, a
// periodic checkpoint or the JSON log that cannot be written is a warning naming the file and its flag,
// and the run goes on with what it has. Returns whether it was written.
// A flag's first failure is said, its repeats (every --save-iter) are not.
// Under ranks rank 0 writes, the others return at once; a `collective` write (a checkpoint, whose shares
// every rank gathers) is called on every rank and ends alike on each (save_checkpoint).
bool write_or_warn(Run& r, const std::string& flag, const std::string& what, const std::function<void()>& write,
                   bool collective = false) {
    if (!r.speaks() && !collective) return true;
    try {
        write();
        return true;
    } catch (const Error& e) {
        if (r.speaks() && r.warned_writes.insert(flag).second)
            r.log << "warning: " << what << " (" << flag << ") was not written; the run goes on (" << e.what()
                  << "); further failures of " << flag << " are not reported" << std::endl;
        return false;
    }
}

void save_checkpoint_now(Run& r, const Scale& sc, int k) {
    const OptimizerState st = sc.opt->save();  // under ranks each rank's shares, gathered as they are written
    if (write_or_warn(r, "--checkpoint", "the checkpoint " + r.ckpt_path,
                      [&] { save_checkpoint(r.ckpt_path, r.fp, int(sc.index), k, sc.x, sc.opt->name(), st, &r.ranks); },
                      true))
        r.wrote_checkpoint = true;
}

void write_log_or_warn(Run& r) {
    write_or_warn(r, "--log-json", "the log " + r.o.log_json, [&] { r.progress.write_json(nullptr); });
}

// When the work would otherwise be lost (the result or the Ctrl-C state cannot be written): a checkpoint
// written by `save` at the checkpoint's path or, when that fails too (it is often on the same full disk),
// under a new name in the system's temporary folder. Returns where, or "" with each failure in `why`.
// Under ranks rank 0 writes and says where; a `collective` save (every rank gathering the shares, rank 0's
// outcome on each) is made by every rank for as many places as rank 0 tries.
std::string keep_checkpoint_somewhere(Run& r, const std::function<void(const std::string&)>& save, std::string& why,
                                      bool collective = false) {
    namespace fs = std::filesystem;
    if (!r.speaks() && !collective) return r.ckpt_path;
    std::vector<std::string> places{r.ckpt_path};
    if (r.speaks()) {
        std::error_code ec;
        const fs::path tmp = fs::temp_directory_path(ec);
        if (!ec) {
            const fs::path other = tmp / ("stylize-" + std::to_string(::getpid()) + "-" + fs::path(r.ckpt_path).filename().string());
            if (!fs::exists(other, ec)) places.push_back(other.string());
        }
    }
    if (collective) {  // the others try as often (their places are never written: rank 0 writes)
        int tries = int(places.size());
        r.ranks.broadcast(&tries, sizeof tries, 0);
        places.resize(size_t(tries), r.ckpt_path);
    }
    for (const std::string& place : places) {
        try {
            save(place);
            if (place == r.ckpt_path) r.wrote_checkpoint = true;
            return place;
        } catch (const Error& e) {
            why += std::string(why.empty() ? "" : "; ") + e.what();
        }
    }
    return "";
}

// After evaluation k: the loss checked, progress reported, intermediates and checkpoints saved.
void after_evaluation(Run& r, Scale& sc, int k) {
    const StylizeOptions& o = r.o;
    const int N = o.num_iterations;
    const bool save = o.save_iter > 0 && k % o.save_iter == 0 && k < N;
    // --keep-checkpoint: the last scale's state before its last step, so a larger --num-iterations goes on.
    const bool keep = o.keep_checkpoint && k == N && sc.index + 1 == r.scales.size();
    if (save || keep || k % 10 == 0 || k == 1 || k == N || (o.print_iter > 0 && k % o.print_iter == 0)) {
        const double total = sc.objective->last().total.item();
        if (r.first_loss) r.result.initial_loss = total, r.first_loss = false;
        if (!std::isfinite(total)) {
            const bool saved = write_or_warn(r, "--output-image", "the last good image " + o.output_image, [&] {
                save_image(tensor_to_image(postprocess(r, sc, sc.last_good)), o.output_image);
            });
            dist::refuse_together("the loss became " + std::string(std::isnan(total) ? "NaN" : "infinite") + " at iteration " +
                        std::to_string(k) + "; the last good image (iteration " + std::to_string(sc.last_good_it) + ")" +
                        (saved ? " was saved to " + o.output_image : " could not be saved") +
                        ". Try lower weights or --optimizer lbfgs.");
        }
        r.result.final_loss = total;
        sc.last_good.copy_(sc.x);
        sc.last_good_it = k;
    }
    publish_preview(r, sc, k, r.progress.evaluated(k, sc.objective->last()));
    if (save) {
        std::string suffix = "_";  // built by appends: GCC 12 warns falsely (-Wrestrict) on "_" + to_string
        suffix.append(std::to_string(sc.size)).append("_").append(std::to_string(k));
        const std::string path = with_suffix(o.output_image, suffix);
        write_or_warn(r, "--save-iter", "the intermediate image " + path,
                      [&] { save_image(tensor_to_image(postprocess(r, sc, sc.x)), path); });
    }
    if (save || keep) {
        save_checkpoint_now(r, sc, k);
        write_log_or_warn(r);
    }
}

// Ctrl-C: stop at an iteration boundary with nothing lost (the checkpoint goes to the temporary folder
// when its own path cannot be written; the image is a courtesy and may fail with a warning).
[[noreturn]] void stop_now(Run& r, Scale& sc, int k) {
    const bool image = write_or_warn(r, "--output-image", "the current image " + r.o.output_image,
                                     [&] { save_image(tensor_to_image(postprocess(r, sc, sc.x)), r.o.output_image); });
    std::string why;
    const OptimizerState st = sc.opt->save();
    const std::string ckpt = keep_checkpoint_somewhere(
        r, [&](const std::string& path) { save_checkpoint(path, r.fp, int(sc.index), k, sc.x, sc.opt->name(), st, &r.ranks); },
        why, true);
    write_log_or_warn(r);
    const std::string where = "interrupted at iteration " + std::to_string(k) + " of scale " + std::to_string(sc.size) + ": ";
    if (ckpt.empty())
        throw Interrupted(where + "no checkpoint could be written (" + why + "); " +
                          (image ? "the current image is in " + r.o.output_image : "nothing was saved"));
    throw Interrupted(where + (image ? "the current image is in " + r.o.output_image + " and a" : "a") + " checkpoint in " +
                      ckpt + "; continue with --resume " + ckpt);
}

// Ctrl-C, on any rank: every rank stops after the same iteration (the request is summed over them).
bool stop_voted(Run& r) {
    if (r.ranks.size() == 1) return g_stop.load();
    double asked = g_stop.load() ? 1 : 0;
    r.ranks.all_reduce_sum(&asked, 1);
    return asked > 0;
}

// The loop: evaluation k is "iteration k"; step k moves x and (but for the last) evaluates k + 1.
void optimise(Run& r, Scale& sc) {
    const int N = r.o.num_iterations;
    // A tiled evaluation loops on the host over tiles: not one capturable graph.
    GraphedEvaluation graphed(r.o.cuda_graph && r.dev.is_cuda() && !dynamic_cast<TiledObjective*>(sc.objective.get()),
                              r.log);
    auto f = [&](const Tensor& x, Tensor& g) { return graphed(*sc.objective, x, g); };
    int it = 1;
    const bool resuming = r.resume && int(sc.index) == r.resume->scale_index;
    if (resuming && r.resume->finished) {  // the result of every step, kept when its image could not be written
        r.log << "the checkpoint holds the finished result: writing its image without iterating" << std::endl;
        r.result.from_finished_checkpoint = true;
        r.resume.reset();
        return;
    }
    if (resuming) {
        sc.opt->load(r.resume->state);
        it = r.resume->iteration;
        r.resume.reset();
    } else {
        sc.opt->begin(sc.x, f);
    }
    const int evals_at_start = resuming ? sc.opt->evaluations() : 0;
    r.progress.begin_scale(sc.size, it, N);
    sc.last_good = sc.x.clone();
    if (!resuming) after_evaluation(r, sc, 1);
    for (; it <= N; ++it) {
        sc.opt->step(sc.x, f, it < N);
        if (it < N) after_evaluation(r, sc, it + 1);
        if (stop_voted(r) && it < N) stop_now(r, sc, it + 1);
    }
    cuda_synchronize();
    r.result.evaluations += sc.opt->evaluations() - evals_at_start;
}

// The last scale's result to --output-image. When that fails (a full disk), the result is kept as a
// finished checkpoint, small (the image only), which the same command with --resume turns into the image
// without iterating; the error names the file, the flag and that checkpoint.
void write_result_here(Run& r, const Scale& sc) {
    const std::string& out = r.o.output_image;
    try {
        save_image(tensor_to_image(r.previous_rgb), out);
        return;
    } catch (const Error& e) {
        std::string why;
        const std::string ckpt = keep_checkpoint_somewhere(r, [&](const std::string& path) {
            save_finished_checkpoint(path, r.fp, r.o.optimizer, int(sc.index), r.o.num_iterations, sc.x);
        }, why);
        write_log_or_warn(r);
        if (ckpt.empty())
            throw Error(std::string("--output-image: ") + e.what() + "; the result could not be kept in a checkpoint "
                        "either (" + why + "): free some space and run again");
        throw ResultNotWritten("--output-image: " + std::string(e.what()) + "; the finished result is kept in " + ckpt +
                                   ": free some space (or choose another --output-image) and run the same command with "
                                   "--resume " + ckpt + ", which writes the image without iterating again",
                               ckpt);
    }
}

// Under several ranks rank 0 writes and tells the others how it went, so that all end alike (a rank
// left waiting in a later collective would hang the job).
void write_result(Run& r, const Scale& sc) {
    if (r.ranks.size() == 1) return write_result_here(r, sc);
    int failed = 0;
    std::exception_ptr error;
    if (r.speaks()) {
        try {
            write_result_here(r, sc);
        } catch (...) {
            failed = 1;
            error = std::current_exception();
        }
    }
    r.ranks.broadcast(&failed, sizeof failed, 0);
    if (error) std::rethrow_exception(error);
    if (failed) throw dist::EndsTogether("rank 0 could not write the result", false);
}

void run_scale(Run& r, size_t si) {
    Scale sc;
    sc.index = si;
    sc.size = r.scales[si];
    sc.content_img = resize_longest(r.in.content, sc.size);
    try {
        set_up_scale(r, sc);
        // The setup's blocks (the style image's activations at its own size, the content's) are never asked
        // for again by the loop: given back, they do not stay resident beside the optimiser's state.
        if (!r.dev.is_cuda()) cpu_empty_cache();
        optimise(r, sc);
    } catch (...) {
        rethrow_explaining_memory(sc.content_img, r.dev);
    }
    r.previous_rgb = postprocess(r, sc, sc.x);
    publish_preview(r, sc, r.o.num_iterations, {}, r.previous_rgb);  // the scale's result, after its last step
    if (si + 1 < r.scales.size() && r.o.print_iter > 0) r.log << "scale " << sc.size << " done" << std::endl;
    if (si + 1 == r.scales.size()) write_result(r, sc);
}

// mpirun stylize shares out the tiles of one image (every rank decides alike on the same flags).
void check_ranks_can_share(const StylizeOptions& o) {
    const std::string n = std::to_string(dist::world().size());
    if (o.tile_size <= 0)
        dist::refuse_together("under " + n + " ranks stylize shares the image's tiles out among them: give --tile-size "
                              "(a multiple of 16, e.g. 256; each rank evaluates every " + n + "th tile)");
    if (!o.style_masks.empty()) dist::refuse_together("--style-masks cannot be used under several ranks (not supported tiled)");
    if (o.objective.normalize_gradients)
        dist::refuse_together("--normalize-gradients cannot be used under several ranks (it needs a whole layer's gradient)");
}

// The options as the run uses them: checked, weights found, every write target checked before any work.
StylizeOptions checked_options(const StylizeOptions& o_in, std::ostream& log) {
    StylizeOptions o = o_in;
    validate(o);
    if (!o.init_image.empty() && o.init != "image")
        log << "warning: --init-image " << o.init_image << " is used only with --init image; this run starts from "
            << o.init << " noise as --init " << o.init << " says" << std::endl;
    if (o.optimizer == "lbfgs" && !o.lbfgs_line_search && o.num_iterations < 10)
        log << "note: without --lbfgs-line-search the loss jumps up at iteration 3 and falls after it (neural-style's "
               "L-BFGS does the same), so a run of " << o.num_iterations << " iterations may end above where it started; "
               "use 10 or more, or --lbfgs-line-search (docs/nst.md)" << std::endl;
    if (!o.resume.empty() && !std::filesystem::is_regular_file(o.resume))
        throw Error("--resume " + o.resume + ": no such checkpoint file");
    if (o.weights.empty()) o.weights = weights::find_default_weights();
    if (o.weights.empty()) throw Error("no VGG-19 weights: pass --weights, set NST_WEIGHTS, or run scripts/get-weights.sh");
    if (dist::world().size() > 1) check_ranks_can_share(o);
    if (dist::world().is_root()) check_stylize_write_targets(o);  // (rank 0 writes; a refusal there ends the job)
    return o;
}

// After success the checkpoint goes, unless kept: the one this run wrote, or the one it resumed from
// when that is the same file (a checkpoint given only as --resume is an input, and stays).
void remove_spent_checkpoint(const Run& r) {
    namespace fs = std::filesystem;
    if (r.o.keep_checkpoint) return;
    std::error_code ec;
    const bool resumed_from_it = r.resumed_in_place || (!r.o.resume.empty() && fs::equivalent(r.o.resume, r.ckpt_path, ec));
    if (r.wrote_checkpoint || resumed_from_it) fs::remove(r.ckpt_path, ec);
}


// Without --resume, a file already at the checkpoint's path: this run's checkpoint is continued (the same
// command after a kill goes on where it stopped), another run's is refused with both ways out, and a file
// that is no checkpoint is refused whatever the flags, so it is never overwritten. --restart starts afresh
// over a checkpoint (this run's or another's).
void resume_in_place(Run& r) {
    const StylizeOptions& o = r.o;
    if (!o.resume.empty() || !std::filesystem::exists(r.ckpt_path)) return;
    const std::string flag = o.checkpoint.empty() ? "the checkpoint " + r.ckpt_path + " (--output-image + .ckpt.safetensors)"
                                                  : "--checkpoint " + r.ckpt_path;
    CheckpointProbe p = probe_checkpoint(r.ckpt_path, r.fp, o, r.dev, &r.ranks);  // (a rank reads its share)
    if (p.kind == CheckpointProbe::NotACheckpoint)
        throw Error(flag + " exists and is not a stylize checkpoint; it is left as it is: name another file with --checkpoint");
    if (o.restart) {
        r.log << "--restart: starting afresh; " << r.ckpt_path << " will be overwritten\n";
        return;
    }
    if (p.kind == CheckpointProbe::OtherRun)
        throw Error(flag + " holds the checkpoint of another run (" + p.differences + "): continue that run with --resume " +
                    r.ckpt_path + " and its options, or start this one with --restart (which overwrites it), or name "
                    "another file with --checkpoint");
    r.resume = std::move(p.checkpoint);
    r.resumed_in_place = true;
    r.log << "resuming " << r.ckpt_path << ", this run's checkpoint (same inputs and options), at scale "
          << r.scales[size_t(r.resume->scale_index)] << ", iteration " << r.resume->iteration
          << " (--restart starts afresh)\n";
}

}  // namespace

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }
void clear_stop_request() { g_stop.store(false); }

Device open_device(const StylizeOptions& o) {
    set_backend(parse_backend(o.backend));
    if (o.gpu < 0) return Device::cpu();
    // Under mpirun or srun, one GPU per rank of a machine: --gpu is local rank 0's.
    const int gpu = dist::world().size() > 1
                        ? dist::device_for_rank(o.gpu, dist::local_rank(), cuda_availability().device_count)
                        : o.gpu;
    set_cuda_device(gpu);
    if (o.precision == "tf32") {  // the libraries' TF32 math, and the own TF32 rungs unless NST_KERNELS pins others
        set_allow_tf32(true);
        if (pinned_variant("conv2d").empty()) set_variant("conv2d", "igemm_mma_tf32");
        if (pinned_variant("gram").empty()) set_variant("gram", "syrk_mma_tf32");
    }
    return Device::cuda(gpu);
}

// Under several ranks each keeps its share of the image's vectors (stylize/sharded_optimizer.h), and
// L-BFGS's sums over them are summed over the ranks in rank order.
std::unique_ptr<Optimizer> make_optimizer(const StylizeOptions& o, int64_t n, Device d, double weight_scale,
                                          dist::Communicator* ranks) {
    auto make = [&](int64_t n_share) {
        if (o.optimizer != "lbfgs") return make_adam(n_share, d, {o.learning_rate / weight_scale});
        LbfgsOptions lo{o.lbfgs_num_correction, 1.0, o.lbfgs_line_search, o.lbfgs_reserve_history, {}};
        if (ranks && ranks->size() > 1) lo.sum_over_shards = [ranks](double v) { return dist::sum_in_rank_order(*ranks, v); };
        return make_lbfgs(n_share, d, lo);
    };
    if (!ranks || ranks->size() == 1) return make(n);
    return make_sharded(*ranks, n, d, make);
}

Tensor noise_start(int64_t height, int64_t width, uint64_t seed, double weight_scale, Device d) {
    return scale(Tensor::randn({1, 3, height, width}, seed), 0.001 / weight_scale).to(d);
}

// Under several ranks every rank reads the inputs itself: they must be the same files (by content: the
// run's fingerprint hashes every input) and the same options, or the ranks would optimise different images.
void check_ranks_read_alike(Run& r) {
    std::string all;
    for (const auto& [flag, value] : r.fp) all.append(flag).append("=").append(value).append("\n");
    if (!dist::same_on_every_rank(r.ranks, std::hash<std::string>{}(all)))
        dist::refuse_together("the ranks read different inputs or options (a file that differs between machines, "
                              "or a path that is not shared): every rank must see the same files as rank 0");
}

// Under several ranks each rank looks for the checkpoint itself: all must start from the same point (a
// checkpoint on a disk only rank 0's machine sees would otherwise set the ranks' collectives out of step).
void check_ranks_resume_alike(Run& r) {
    const std::string where = !r.resume ? std::string("starts afresh")
                                        : "resumes at iteration " + std::to_string(r.resume->iteration) + " of scale " +
                                              std::to_string(r.scales[size_t(r.resume->scale_index)]) +
                                              (r.resume->finished ? " (finished)" : "");
    if (!dist::same_on_every_rank(r.ranks, std::hash<std::string>{}(where)))
        dist::refuse_together("the ranks do not all see the same checkpoint " + r.ckpt_path + " (rank 0 " + where +
                              "): put it where every rank reads the same file (a shared folder), or start afresh "
                              "with --restart");
}

// Under several ranks: each rank's peak memory (what bounds the image a job can paint is its largest), and
// the result's figure is the largest.
void report_ranks_memory(Run& r) {
    std::vector<double> peaks(size_t(r.ranks.size()), 0.0);
    peaks[size_t(r.ranks.rank())] = double(r.result.peak_memory_bytes);
    r.ranks.all_reduce_sum(peaks.data(), int64_t(peaks.size()));
    r.log << "peak memory per rank (MiB):";
    for (double p : peaks) r.log << " " << int64_t(p / double(1 << 20));
    r.log << std::endl;
    r.result.peak_memory_bytes = size_t(*std::max_element(peaks.begin(), peaks.end()));
}

// The run after its checks and its preview's bind: devices, inputs, every scale, the summary.
StylizeResult run_all(const StylizeOptions& o, std::ostream& log, PreviewServer* preview) {
    const Device dev = open_device(o);
    if (o.precision == "tf32" && !dev.is_cuda()) log << "note: --precision tf32 applies on the GPU; the CPU computes in fp32\n";
    std::string device = dev.str() + (dev.is_cuda() ? " (" + cuda_availability().device_name +
                                                   (o.precision == "tf32" ? ", TF32" : "") + ")"
                                             : "");
    if (dist::world().size() > 1) device += ", " + std::to_string(dist::world().size()) + " ranks";
    Run r{o, log, dev, load_inputs(o, log), fingerprint_of(o), o.scales.empty() ? std::vector<int>{o.image_size} : o.scales,
          checkpoint_path(o), std::nullopt, Progress(o, log, device), StylizeResult{}};
    r.result.device = device;
    r.preview = preview;
    if (r.ranks.size() > 1) check_ranks_read_alike(r);
    check_scales_fit_vgg(r.in.content, r.scales, o);
    resume_in_place(r);
    if (!o.resume.empty()) {
        r.resume = load_checkpoint(o.resume, r.fp, o, r.dev, &r.ranks);  // (a rank reads its share)
        log << "resuming " << o.resume << " at scale " << r.scales[size_t(r.resume->scale_index)] << ", iteration "
            << r.resume->iteration << "\n";
    }
    if (r.ranks.size() > 1) check_ranks_resume_alike(r);
    const auto t_start = std::chrono::steady_clock::now();
    for (size_t si = 0; si < r.scales.size(); ++si)
        if (!r.resume || int(si) >= r.resume->scale_index) run_scale(r, si);

    r.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    r.result.seconds_per_evaluation = r.result.evaluations ? r.result.seconds / r.result.evaluations : 0;
    r.result.peak_memory_bytes = peak_memory(dev);
    if (r.ranks.size() > 1) report_ranks_memory(r);
    if (!r.speaks()) return r.result;
    try {
        r.progress.write_json(&r.result);
    } catch (const Error& e) {
        throw Error(std::string("--log-json: ") + e.what() + " (the image was written to " + o.output_image + ")");
    }
    remove_spent_checkpoint(r);
    return r.result;
}

// The run has ended: the preview says how, and a page that is open gets to show it (--preview-linger).
void finish_preview(PreviewServer* preview, const StylizeOptions& o, std::ostream& log, const std::string& message,
                    bool failed) {
    if (!preview) return;
    preview->finish(message, failed);
    if (o.preview_linger == 0 || (o.preview_linger > 0 && !preview->watched())) return;
    log << "preview: the finished page stays at " << preview->url()
        << (o.preview_linger < 0 ? " until Ctrl-C" : " for up to " + std::to_string(o.preview_linger) + " s (Ctrl-C ends it)")
        << std::endl;
    preview->linger(o.preview_linger, [] { return g_stop.load(); });
}

StylizeResult stylize(const StylizeOptions& o_in, std::ostream& log_in) {
    g_stop.store(false);
    std::ostream quiet(nullptr);  // under mpirun the other ranks say nothing
    std::ostream& log = dist::world().is_root() ? log_in : quiet;
    const StylizeOptions o = checked_options(o_in, log);
    std::unique_ptr<PreviewServer> preview;
    // Bound before any work: a port in use is refused at once. Under mpirun rank 0 serves it.
    if (o.preview_port >= 0 && dist::world().is_root()) {
        preview = std::make_unique<PreviewServer>(o.preview_host, o.preview_port);
        log << "live preview: " << preview->url() << std::endl;
    }
    StylizeResult result;
    try {
        result = run_all(o, log, preview.get());
    } catch (const Interrupted& e) {  // Ctrl-C: the page says so, and the process stops now
        if (preview) preview->finish(std::string("stopped: ") + e.what(), true);
        throw;
    } catch (const std::exception& e) {
        finish_preview(preview.get(), o, log, std::string("failed: ") + e.what(), true);
        throw;
    }
    finish_preview(preview.get(), o, log, "done: wrote " + o.output_image, false);
    return result;
}

}  // namespace nst
