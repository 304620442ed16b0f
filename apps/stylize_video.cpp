// stylize_video: a video in the style of a painting, consistent from frame to frame (Ruder, Dosovitskiy
// and Brox 2016): each frame starts from the previous stylized frame warped by the optical flow, and a
// temporal term holds it there wherever the flow is reliable.
//
//   stylize_video --content-video clip.mp4 --style-image starry_night.jpg --output-video out.mp4
//   stylize_video --content-video frames/ --style-image s.jpg --output-frames out/ [--temporal-weight 1e3]
//
// stylize's style flags apply to every frame. After each frame its PNG and a checkpoint are written:
// run the same command again after a kill and it continues at the next frame. Errors are one line on
// stderr and a non-zero exit.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "apps/style_flags.h"
#include "base/device.h"
#include "base/error.h"
#include "kernels/registry.h"
#include "nst/stylize_video.h"

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
    nst::apps::add_style_flags(app, o.frame, lists);
    add_frame_flags(app, o.frame);
    app.set_version_flag("--version", std::string("stylize_video ") + NST_VERSION + ", " +
                                          (nst::built_with_cuda() ? "with" : "without") + " CUDA");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        nst::apps::apply_style_flags(lists, o.frame);
        const nst::VideoResult r = nst::stylize_video(o, std::cout);
        std::printf("stylized %lld frames in %.1f s on %s; mean warping error %.4g over %lld frame pairs\n",
                    static_cast<long long>(r.frames), r.seconds, r.device.c_str(), r.mean_warping_error,
                    static_cast<long long>(r.frames > 0 ? r.frames - 1 : 0));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stylize_video: error: %s\n", e.what());
        return 1;
    }
}
