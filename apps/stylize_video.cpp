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

#include "apps/flag_lists.h"
#include "base/device.h"
#include "base/error.h"
#include "kernels/registry.h"
#include "nst/stylize_video.h"

namespace {

// The flags shared with stylize, for every frame.
void add_frame_flags(CLI::App& app, nst::StylizeOptions& f, std::string& styles, std::string& blend,
                     std::string& content_layers, std::string& style_layers, std::string& pooling) {
    app.add_option("--style-image", styles, "style image(s), comma-separated")->required();
    app.add_option("--style-blend-weights", blend, "weights of the style images, comma-separated (default: equal)");
    app.add_option("--coarse-style-image", f.coarse_style_image, "a second painting for the large forms (see stylize)");
    app.add_option("--image-size", f.image_size, "longest side of the output frames in pixels (default 512)");
    app.add_option("--style-scale", f.style_scale, "style images are resized to style-scale x the frame size (default 1)");
    app.add_option("--gpu", f.gpu, "CUDA device index, or -1 for the CPU (default: 0 when a GPU is present)");
    app.add_option("--backend", f.backend, "own (the project's kernels) or library (cuDNN/cuBLAS)");
    app.add_option("--weights", f.weights, "VGG-19 weights (default: $NST_WEIGHTS, weights/vgg19.safetensors, ../shared/...)");
    app.add_option("--content-weight", f.objective.content_weight, "default 5");
    app.add_option("--style-weight", f.objective.style_weight, "default 100");
    app.add_option("--tv-weight", f.objective.tv_weight, "total-variation weight (default 1e-3)");
    app.add_option("--content-layers", content_layers, "default relu4_2");
    app.add_option("--style-layers", style_layers, "default relu1_1,relu2_1,relu3_1,relu4_1,relu5_1");
    app.add_flag("--normalize-gradients", f.objective.normalize_gradients, "L1-normalise each loss's gradient (neural-style)");
    app.add_option("--pooling", pooling, "max or avg (default max)");
    app.add_option("--num-iterations", f.num_iterations, "iterations for the first frame (default 1000)");
    app.add_option("--init", f.init, "the first frame's start (and every frame's with --temporal-weight 0): random or "
                   "image (default random)");
    app.add_option("--optimizer", f.optimizer, "lbfgs or adam (default lbfgs)");
    app.add_option("--learning-rate", f.learning_rate, "Adam's step size on a 0..255 scale (default 10)");
    app.add_option("--lbfgs-num-correction", f.lbfgs_num_correction, "L-BFGS history length (default 100)");
    app.add_flag("--lbfgs-line-search", f.lbfgs_line_search, "strong-Wolfe line search instead of neural-style's fixed step");
    app.add_option("--print-iter", f.print_iter, "also print the loss every N iterations within a frame, 0 never (default 0)");
    app.add_flag("--original-colors", f.original_colors, "keep each frame's colours (luminance transfer)");
    app.add_option("--seed", f.seed, "random seed of --init random (default 0)");
    app.add_option("--max-pixels", f.max_pixels, "refuse input frames with more pixels than this (default 64000000)");
    app.add_option("--log-json", f.log_json, "write each frame's loss, time and warping error, and a summary, as JSON");
    app.add_flag("--keep-checkpoint", f.keep_checkpoint, "keep the checkpoint (and the frames folder made for "
                 "--output-video) after success, so that a larger --max-frames continues the run");
}

}  // namespace

int main(int argc, char** argv) {
    nst::VideoOptions o;
    o.frame.gpu = nst::cuda_available() ? 0 : -1;
    o.frame.print_iter = 0;
    std::string styles, blend, content_layers = "relu4_2", style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1";
    std::string pooling = "max";
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
    add_frame_flags(app, o.frame, styles, blend, content_layers, style_layers, pooling);
    app.set_version_flag("--version", std::string("stylize_video ") + NST_VERSION + ", " +
                                          (nst::built_with_cuda() ? "with" : "without") + " CUDA");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        o.frame.style_images = nst::apps::split(styles);
        o.frame.style_blend_weights = nst::apps::split_numbers<double>(blend, "--style-blend-weights");
        o.frame.objective.content_layers = nst::apps::split(content_layers);
        o.frame.objective.style_layers = nst::apps::split(style_layers);
        o.frame.objective.pooling = nst::parse_pooling(pooling);
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
