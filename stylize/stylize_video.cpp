// The stylize_video driver (contract in stylize_video.h; the method in docs/nst.md, "Video"). Per frame:
// the optical flow between this content frame and the previous one (both directions), the reliability
// mask, the previous output warped into this frame as the start point and the temporal term's target,
// an optimisation, then the frame's PNG and a checkpoint. The flow is computed on every frame even with
// --temporal-weight 0, so that both kinds of run report the same warping error.
#include "stylize/stylize_video.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "base/device.h"
#include "stylize/checkpoint.h"
#include "media/color.h"
#include "media/optical_flow.h"
#include "optim/optim.h"
#include "stylize/progress.h"
#include "stylize/stylize.h"
#include "stylize/stylize_checks.h"
#include "nst/temporal.h"
#include "media/video_frames.h"
#include "stylize/write_targets.h"
#include "weights/safetensors.h"
#include "weights/vgg19_weights.h"

namespace nst {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointName = "stylize_video.ckpt.safetensors";

int later_iterations(const VideoOptions& o) {
    return o.num_iterations_later > 0 ? o.num_iterations_later : std::max(1, o.frame.num_iterations / 2);
}

// The per-frame options checked with stylize's own validate (which reads no file).
void validate_frame_options(const VideoOptions& o) {
    StylizeOptions f = o.frame;
    f.content_image = o.content_video;
    validate(f);
    if (!f.style_masks.empty()) throw Error("--style-masks is not supported for video (a mask would have to move with the frames)");
    if (!f.scales.empty()) throw Error("--scales is not supported for video: each frame starts from the previous one");
    if (f.tile_size > 0) throw Error("--tile-size is not supported for video");
    if (f.preview_port >= 0) throw Error("--preview-port is not supported for video");
    if (f.color_control != "none")
        throw Error("--color-control " + f.color_control + " is not supported for video (use --original-colors)");
    if (!f.resume.empty()) throw Error("--resume is not for video: run the same command again to continue");
}

}  // namespace

void validate(const VideoOptions& o) {
    if (o.content_video.empty()) throw Error("--content-video is required (a video file or a folder of numbered images)");
    if (o.output_video.empty() && o.output_frames.empty()) throw Error("give --output-video FILE, --output-frames DIR, or both");
    validate_frame_options(o);
    if (!std::isfinite(o.temporal_weight) || o.temporal_weight < 0)
        throw Error("--temporal-weight must be a number >= 0 (0: every frame on its own), not " + std::to_string(o.temporal_weight));
    if (!std::isfinite(o.fps) || o.fps < 0) throw Error("--fps must be a positive number of frames per second");
    if (o.num_iterations_later < 0) throw Error("--num-iterations-later must be >= 1 (0: half of --num-iterations)");
    if (o.max_frames < 0) throw Error("--max-frames must be >= 0 (0: every frame)");
    parse_flow_method(o.flow);
    if (!o.output_video.empty() && extension_of(o.output_video).empty())
        throw Error("--output-video " + o.output_video + ": give the file an extension (.mp4, .mkv, .gif, ...): it chooses the format");
}

namespace {

// The run's state across frames.
struct VideoRun {
    const VideoOptions& o;
    std::ostream& log;
    Device dev;
    FlowMethod flow;
    std::unique_ptr<FrameSource> source{};
    std::string frames_dir{}, ckpt_path{};
    bool implicit_dir = false;  // frames_dir made for --output-video alone: removed after success
    RunFingerprint fp{};
    weights::Vgg19Weights w{};
    std::vector<Tensor> styles{};
    StyleControls controls{};
    std::unique_ptr<StyleObjective> base{};
    std::unique_ptr<TemporalObjective> objective{};
    int64_t total = 0;             // frames this run expects to end with (0: unknown), for the progress line
    Image prev_content{}, prev_out{};  // at the working size; prev_out is the exact (clamped) output
    VideoResult result{};
};

// --- checks before work ---

// The frames folder: made when missing (its parent must exist); one holding frames without this run's
// checkpoint is refused, so that no frame another run wrote is overwritten.
void prepare_frames_dir(VideoRun& r) {
    const VideoOptions& o = r.o;
    r.implicit_dir = o.output_frames.empty();
    r.frames_dir = r.implicit_dir ? o.output_video + ".frames" : o.output_frames;
    const char* flag = r.implicit_dir ? "--output-video (its frames folder, OUTPUT.frames)" : "--output-frames";
    std::error_code ec;
    const fs::path dir(r.frames_dir);
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw Error(std::string(flag) + " " + r.frames_dir + ": exists and is not a folder");
    if (fs::exists(o.content_video, ec) && fs::equivalent(dir, o.content_video, ec))
        throw Error(std::string(flag) + " " + r.frames_dir + " is the --content-video folder: the input frames would be overwritten");
    if (!fs::exists(dir, ec)) {
        const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
        if (!fs::is_directory(parent, ec))
            throw Error(std::string(flag) + " " + r.frames_dir + ": the folder " + parent.string() + " does not exist");
        if (!fs::create_directory(dir, ec) || ec)
            throw Error(std::string(flag) + " " + r.frames_dir + ": cannot create it (" + ec.message() + ")");
    }
    const fs::path probe = dir / ".stylize_video_write_test";
    if (std::FILE* f = std::fopen(probe.c_str(), "wb")) {
        std::fclose(f);
        fs::remove(probe, ec);
    } else {
        throw Error(std::string(flag) + " " + r.frames_dir + ": cannot write in it");
    }
    r.ckpt_path = (dir / kCheckpointName).string();
    if (!fs::exists(r.ckpt_path, ec) && fs::exists(dir / frame_file_name(0), ec))
        throw Error(std::string(flag) + " " + r.frames_dir + " already holds " + frame_file_name(0) +
                    " and no checkpoint of this run: choose an empty folder or remove those frames "
                    "(stylize_video never overwrites frames it did not write)");
}

void check_outputs(const VideoRun& r) {
    const VideoOptions& o = r.o;
    std::vector<PathFlag> inputs = {{"--content-video", o.content_video, ""}, {"--weights", o.frame.weights, ""}};
    for (const std::string& s : o.frame.style_images) inputs.push_back({"--style-image", s, ""});
    inputs.push_back({"--coarse-style-image", o.frame.coarse_style_image, ""});
    check_write_targets({{"--output-video", o.output_video, ""}, {"--log-json", o.frame.log_json, ""}}, inputs);
    if (o.output_video.empty()) return;
    // A frame of the working size, so that the trial meets what the real encode will (odd sizes included).
    const auto [w, h] = size_for_longest(r.source->width(), r.source->height(), o.frame.image_size);
    check_video_output(o.output_video, w, h);
}

// --content-video's identity: a file's bytes, or each file of the folder by name and contents.
std::string content_fingerprint(const std::string& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return file_fingerprint(path, "--content-video");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path, ec))
        if (e.is_regular_file(ec)) names.push_back(e.path().filename().string() + "=" + file_fingerprint(e.path().string(), "--content-video"));
    std::sort(names.begin(), names.end());
    std::string all;
    for (const auto& n : names) all += n + ";";
    return bytes_fingerprint(all);  // each file's name and contents, in name order
}

RunFingerprint video_fingerprint(const VideoOptions& o) {
    RunFingerprint f = options_fingerprint(o.frame);
    f["--content-video"] = content_fingerprint(o.content_video);
    std::ostringstream tw;
    tw << std::setprecision(17) << o.temporal_weight;
    f["--temporal-weight"] = tw.str();
    f["--flow"] = o.flow;
    f["--num-iterations"] = std::to_string(o.frame.num_iterations);
    f["--num-iterations-later"] = std::to_string(later_iterations(o));
    f["--original-colors"] = o.frame.original_colors ? "on" : "off";
    return f;
}

// --- checkpoints: after each frame, the next frame's index, the previous output exactly, the reports ---

nlohmann::json to_json(const VideoFrameReport& f) {
    return {{"frame", f.index + 1}, {"seconds", f.seconds}, {"loss", f.loss}, {"temporal", f.temporal},
            {"reliable", f.reliable}, {"warping_error", f.warping_error}};
}

VideoFrameReport report_from_json(const nlohmann::json& j) {
    VideoFrameReport f;
    f.index = j.at("frame").get<int64_t>() - 1;
    f.seconds = j.at("seconds"), f.loss = j.at("loss"), f.temporal = j.at("temporal");
    f.reliable = j.at("reliable"), f.warping_error = j.at("warping_error");
    return f;
}

void save_video_checkpoint(const VideoRun& r, int64_t next_frame) {
    weights::WeightFile f;
    f.tensors["previous_output"] = {{1, 3, r.prev_out.height, r.prev_out.width}, image_to_tensor(r.prev_out).to_vector<float>()};
    f.metadata["nst_video_checkpoint"] = "1";
    f.metadata["next_frame"] = std::to_string(next_frame);
    f.metadata["fingerprint"] = nlohmann::json(r.fp).dump();
    nlohmann::json reports = nlohmann::json::array();
    for (const auto& p : r.result.per_frame) reports.push_back(to_json(p));
    f.metadata["frames"] = reports.dump();
    weights::write_safetensors(r.ckpt_path, f);
}

// Returns the next frame's index (0 when there is no checkpoint).
int64_t load_video_checkpoint(VideoRun& r) {
    std::error_code ec;
    if (!fs::exists(r.ckpt_path, ec)) return 0;
    weights::WeightFile f = weights::read_safetensors(r.ckpt_path);
    if (!f.metadata.count("nst_video_checkpoint") || !f.tensors.count("previous_output"))
        throw Error(r.ckpt_path + ": not a stylize_video checkpoint; remove it or choose another frames folder");
    if (const std::string d = fingerprint_differences(f.metadata["fingerprint"], r.fp); !d.empty())
        throw Error(r.frames_dir + " holds a checkpoint of another run (" + d + "): run that command again to finish it, "
                    "or choose another --output-frames (or --output-video) folder");
    int64_t next = 0;
    try {
        next = std::stoll(f.metadata.at("next_frame"));
        for (const auto& j : nlohmann::json::parse(f.metadata.at("frames"))) r.result.per_frame.push_back(report_from_json(j));
    } catch (const std::exception&) {
        throw Error(r.ckpt_path + ": the checkpoint's position or frame reports are malformed");
    }
    const auto& t = f.tensors["previous_output"];
    r.prev_out = tensor_to_image(Tensor::from_vector(t.values, t.shape));
    return next;
}

// --- one frame ---

Tensor initial_image(const VideoRun& r, const Tensor& content_rgb) {
    const VGG19& net = r.objective->net();
    if (r.o.frame.init == "image") return net.preprocess(content_rgb).to(r.dev);
    const Shape& s = content_rgb.shape();
    return noise_start(s[2], s[3], r.o.frame.seed, r.objective->weight_scale(), r.dev);
}

void set_content(VideoRun& r, const Tensor& content_rgb) {
    if (r.base) {
        r.base->set_content(content_rgb);
        return;
    }
    const StylizeOptions& f = r.o.frame;
    r.base = std::make_unique<StyleObjective>(r.w, r.dev, f.objective, content_rgb, r.styles, f.style_blend_weights, r.controls);
    r.objective = std::make_unique<TemporalObjective>(*r.base, r.o.temporal_weight);
}

// Ctrl-C: what is kept and how to go on. `frame` (0-based) was in progress (dropped) or just finished.
std::string stopped_text(const VideoRun& r, int64_t frame, bool in_progress) {
    const int64_t done = in_progress ? frame : frame + 1;  // frames finished, each with its PNG
    const std::string when = in_progress ? "stopped during frame " + std::to_string(frame + 1) + " (dropped)"
                                         : "stopped after frame " + std::to_string(frame + 1);
    if (done == 0) return when + "; no frame was finished: run the same command again to start over";
    return when + "; frames 1.." + std::to_string(done) + " and a checkpoint are in " + r.frames_dir +
           ": run the same command again to continue at frame " + std::to_string(done + 1);
}

// N iterations of the optimizer from x; returns the result in the network's space.
Tensor optimise(VideoRun& r, Tensor x, int N, int64_t frame) {
    const StylizeOptions& f = r.o.frame;
    std::unique_ptr<Optimizer> opt = make_optimizer(f, x.numel(), r.dev, r.objective->weight_scale());
    auto fn = [&](const Tensor& xx, Tensor& g) { return r.objective->evaluate(xx, g); };
    opt->begin(x, fn);
    for (int it = 1; it <= N; ++it) {
        if (stop_requested()) throw Interrupted(stopped_text(r, frame, true));
        if (f.print_iter > 0 && (it % f.print_iter == 0 || it == 1))
            r.log << "  frame " << frame + 1 << " iteration " << it << "/" << N << ": loss " << r.objective->last().total.item()
                  << std::endl;
        opt->step(x, fn, it < N);
    }
    const double total = r.objective->last().total.item();
    if (!std::isfinite(total))
        throw Error("the loss became " + std::string(std::isnan(total) ? "NaN" : "infinite") + " on frame " +
                    std::to_string(frame + 1) + "; try lower weights or --optimizer lbfgs");
    return x;
}

// The output as the user sees it: RGB clamped to 0..1 (what the PNG holds, before its 8-bit rounding).
Image output_image(const VideoRun& r, const Tensor& x, const Tensor& content_rgb) {
    Tensor rgb = r.objective->net().deprocess(x.cpu());
    if (r.o.frame.original_colors) rgb = original_colors(image_to_tensor(tensor_to_image(rgb)), content_rgb);
    return tensor_to_image(rgb);
}

// Where the backward flow points outside the previous frame (content entering at a border), warping
// clamps to the border and repeats its pixels in streaks that a few iterations do not paint over; the
// start takes the content frame's own pixels there instead. The temporal term has c = 0 there anyway.
Image start_from(const Image& warped, const Image& content, const Flow& backward) {
    Image start = warped;
    for (int y = 0; y < backward.height; ++y)
        for (int x = 0; x < backward.width; ++x) {
            if (lands_inside(backward, x, y)) continue;
            const size_t p = size_t(y) * backward.width + x;
            for (int c = 0; c < 3; ++c) start.rgb[3 * p + c] = content.rgb[3 * p + c];
        }
    return start;
}

VideoFrameReport stylize_frame(VideoRun& r, int64_t t, const Image& content) {
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor content_rgb = image_to_tensor(content);
    set_content(r, content_rgb);
    VideoFrameReport rep;
    rep.index = t;
    Tensor x;
    Flow backward;
    std::vector<float> mask;
    if (r.prev_out.width) {
        backward = compute_flow(content, r.prev_content, r.flow);  // frame t -> t-1
        mask = reliable_mask(backward, compute_flow(r.prev_content, content, r.flow));
        double sum = 0;
        for (float c : mask) sum += c;
        rep.reliable = sum / double(mask.size());
        if (r.o.temporal_weight > 0) {
            const Image warped = warp(r.prev_out, backward);
            r.objective->set_target(make_temporal_target(r.objective->net(), image_to_tensor(warped), mask, r.dev));
            // Ruder et al.'s start: the warped previous output (with the content where it enters the frame).
            x = r.objective->net().preprocess(image_to_tensor(start_from(warped, content, backward))).to(r.dev);
        }
    }
    if (!x.defined()) {
        r.objective->clear_target();
        x = initial_image(r, content_rgb);
    }
    x = optimise(r, x, t == 0 ? r.o.frame.num_iterations : later_iterations(r.o), t);
    const Image out = output_image(r, x, content_rgb);
    const LossTerms& terms = r.objective->last();
    rep.loss = terms.total.item();
    rep.temporal = terms.temporal.defined() ? terms.temporal.item() : 0.0;
    if (r.prev_out.width) rep.warping_error = warping_error(r.prev_out, out, backward, mask);
    save_image(out, (fs::path(r.frames_dir) / frame_file_name(t)).string());
    r.prev_out = out;
    r.prev_content = content;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

// --- progress ---

std::string eta(const VideoRun& r, int64_t done_through) {
    // Frames after the first have their own iteration count: time them apart from it.
    double later = 0, first = 0;
    int n_later = 0;
    for (const auto& f : r.result.per_frame) {
        if (f.index < r.result.resumed_at) continue;
        if (f.index == 0) first = f.seconds;
        else later += f.seconds, ++n_later;
    }
    const double per = n_later ? later / n_later : first * later_iterations(r.o) / std::max(1, r.o.frame.num_iterations);
    const double left = per * double(r.total - done_through - 1);
    return done_through + 1 == r.total ? "done" : "clip ETA " + Progress::human_seconds(left);
}

void report(VideoRun& r, const VideoFrameReport& f) {
    std::ostringstream line;
    line << "frame " << f.index + 1 << "/" << r.total << ": " << std::fixed << std::setprecision(1) << f.seconds << " s, loss "
         << std::scientific << std::setprecision(3) << f.loss;
    if (f.temporal > 0) line << " (temporal " << f.temporal << ")";
    if (f.warping_error >= 0)
        line << std::fixed << std::setprecision(0) << ", flow reliable on " << 100 * f.reliable << "%, warping error "
             << std::scientific << std::setprecision(3) << f.warping_error;
    r.log << line.str() << "; " << eta(r, f.index) << std::endl;
}

double mean_warping_error(const std::vector<VideoFrameReport>& frames) {
    double sum = 0;
    int n = 0;
    for (const auto& f : frames)
        if (f.warping_error >= 0) sum += f.warping_error, ++n;
    return n ? sum / n : 0.0;
}

void write_json_log(const VideoRun& r) {
    if (r.o.frame.log_json.empty()) return;
    nlohmann::json j;
    j["frames"] = nlohmann::json::array();
    for (const auto& f : r.result.per_frame) j["frames"].push_back(to_json(f));
    j["summary"] = {{"frames", r.result.frames}, {"mean_warping_error", r.result.mean_warping_error},
                    {"temporal_weight", r.o.temporal_weight}, {"flow", r.o.flow}, {"device", r.result.device},
                    {"seconds", r.result.seconds}, {"resumed_at_frame", r.result.resumed_at + 1}};
    write_file_atomic(r.o.frame.log_json, j.dump(2) + "\n");
}

// --- set-up ---

// The style images at the working size (--style-scale times its longest side), and a coarse style.
void load_styles(VideoRun& r, int longest) {
    const StylizeOptions& f = r.o.frame;
    const int size = int(std::ceil(f.style_scale * longest));
    for (const std::string& s : f.style_images) {
        try {
            r.styles.push_back(image_to_tensor(resize_longest(load_image(s, f.max_pixels), size)));
        } catch (const Error& e) {
            throw Error(std::string("--style-image: ") + e.what());
        }
    }
    if (f.coarse_style_image.empty()) return;
    try {
        r.controls.coarse_style = image_to_tensor(resize_longest(load_image(f.coarse_style_image, f.max_pixels), size));
    } catch (const Error& e) {
        throw Error(std::string("--coarse-style-image: ") + e.what());
    }
    r.controls.coarse_layers = f.coarse_style_layers;
}

// The next content frame at the working size, or nullopt at the end of the input.
std::optional<Image> next_frame(VideoRun& r) {
    Image img;
    if (!r.source->next(img)) return std::nullopt;
    return resize_longest(img, r.o.frame.image_size);
}

void finish(VideoRun& r) {
    const VideoOptions& o = r.o;
    std::error_code ec;
    if (!o.output_video.empty()) {
        const double fps = o.fps > 0 ? o.fps : r.source->fps() > 0 ? r.source->fps() : 25.0;
        encode_video(r.frames_dir, r.total, fps, o.output_video);
        r.log << "wrote " << o.output_video << " (" << r.total << " frames at " << fps << " fps)" << std::endl;
    }
    if (o.frame.keep_checkpoint) return;
    fs::remove(r.ckpt_path, ec);
    if (!r.implicit_dir) return;
    for (int64_t t = 0; t < r.total; ++t) fs::remove(fs::path(r.frames_dir) / frame_file_name(t), ec);
    fs::remove(r.frames_dir, ec);  // only when empty: anything else the user put there stays
}

}  // namespace

VideoResult stylize_video(const VideoOptions& o_in, std::ostream& log) {
    clear_stop_request();
    VideoOptions o = o_in;
    validate(o);
    if (o.frame.weights.empty()) o.frame.weights = weights::find_default_weights();
    if (o.frame.weights.empty()) throw Error("no VGG-19 weights: pass --weights, set NST_WEIGHTS, or run scripts/get-weights.sh");
    VideoRun r{o, log, Device::cpu(), parse_flow_method(o.flow)};
    r.source = FrameSource::open(o.content_video, "--content-video", o.frame.max_pixels);
    check_outputs(r);
    prepare_frames_dir(r);
    r.total = r.source->frame_count() > 0 ? r.source->frame_count() : 0;
    if (o.max_frames > 0 && (r.total == 0 || o.max_frames < r.total)) r.total = o.max_frames;
    {
        const Image first{r.source->width(), r.source->height(), {}};  // its size is all the check reads
        StylizeOptions f = o.frame;
        f.content_image = o.content_video;
        check_scales_fit_vgg(first, {o.frame.image_size}, f);
    }
    try {
        r.w = weights::load_vgg19_weights(o.frame.weights);
    } catch (const Error& e) {
        throw Error(std::string("--weights: ") + e.what());
    }
    r.fp = video_fingerprint(o);
    r.dev = open_device(o.frame);
    r.result.device = r.dev.str() + (r.dev.is_cuda() ? " (" + cuda_availability().device_name + ")" : "");
    r.result.frames_dir = r.frames_dir;
    load_styles(r, o.frame.image_size);

    int64_t t = load_video_checkpoint(r);
    r.result.resumed_at = t;
    if (t > 0) {
        log << "resuming at frame " << t + 1 << ": frames 1.." << t << " are in " << r.frames_dir << std::endl;
        if (t > 1) r.source->skip(t - 1);
        std::optional<Image> prev = next_frame(r);
        if (!prev) throw Error("--content-video " + o.content_video + " has fewer frames than the checkpoint's " + std::to_string(t));
        r.prev_content = *prev;
        if (r.prev_out.width != prev->width || r.prev_out.height != prev->height)
            throw Error(r.ckpt_path + ": the checkpoint's frame is " + std::to_string(r.prev_out.width) + "x" +
                        std::to_string(r.prev_out.height) + ", this run's " + std::to_string(prev->width) + "x" +
                        std::to_string(prev->height));
    }
    const auto [work_w, work_h] = size_for_longest(r.source->width(), r.source->height(), o.frame.image_size);
    log << "stylize_video: " << o.content_video << " (" << r.source->width() << "x" << r.source->height() << ", "
        << (r.total > 0 ? std::to_string(r.total) : std::string("an unknown number of")) << " frames, stylized at "
        << work_w << "x" << work_h << ") -> "
        << r.frames_dir << " on " << r.result.device << ", temporal weight " << o.temporal_weight << ", flow " << o.flow
        << std::endl;
    const auto t_start = std::chrono::steady_clock::now();
    // Until the input ends (a container's frame count is only an estimate), or --max-frames.
    for (; o.max_frames == 0 || t < o.max_frames; ++t) {
        std::optional<Image> content = next_frame(r);
        if (!content) break;
        if (t >= r.total) r.total = t + 1;
        const VideoFrameReport rep = stylize_frame(r, t, *content);
        r.result.per_frame.push_back(rep);
        save_video_checkpoint(r, t + 1);
        report(r, rep);
        if (stop_requested() && (o.max_frames == 0 || t + 1 < o.max_frames)) throw Interrupted(stopped_text(r, t, false));
    }
    r.total = t;  // the input's real length
    if (r.total == 0) throw Error("--content-video " + o.content_video + ": no frames");
    r.result.frames = r.total;
    r.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    r.result.mean_warping_error = mean_warping_error(r.result.per_frame);
    finish(r);
    write_json_log(r);
    return r.result;
}

}  // namespace nst
