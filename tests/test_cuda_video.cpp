// stylize_video on the GPU against the CPU: the whole pipeline (flow and warp on the host, the objective
// with its temporal term and the optimiser on the device) for a few frames of a panned photo. Built where
// stylize_video is (NST_VIDEO); without a device it prints NST_SKIPPED.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>

#include "media/image.h"
#include "stylize/stylize_video.h"
#include "media/video_frames.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "tests/video_clips.h"

using namespace nst;

TEST_CASE("stylize_video --gpu 0 follows the CPU run frame by frame (3 frames of a pan, temporal term on)",
          "[cuda][video]") {
    NST_REQUIRE_CUDA();
    test::TempDir d("cuda");
    test::write_pan(d / "in", 3, 48, 32, 2);
    VideoOptions o;
    o.content_video = d / "in";
    o.frame.style_images = {std::string(NST_EXAMPLES_DIR) + "/starry_night.jpg"};
    o.frame.weights = test::fixture("vgg_tiny.safetensors");
    o.frame.image_size = 48;
    o.frame.print_iter = 0;
    o.frame.num_iterations = 5;
    o.num_iterations_later = 3;
    std::ostringstream log;
    o.frame.gpu = -1;
    o.output_frames = d / "cpu";
    const VideoResult cpu = stylize_video(o, log);
    o.frame.gpu = 0;
    o.output_frames = d / "gpu";
    const VideoResult gpu = stylize_video(o, log);
    INFO(log.str());
    REQUIRE(gpu.device.rfind("cuda", 0) == 0);
    REQUIRE(cpu.per_frame.size() == 3);
    REQUIRE(gpu.per_frame.size() == 3);
    for (size_t t = 0; t < 3; ++t) {
        INFO("frame " << t + 1);
        CHECK(gpu.per_frame[t].loss == Approx(cpu.per_frame[t].loss).epsilon(1e-3));
        CHECK(gpu.per_frame[t].temporal == Approx(cpu.per_frame[t].temporal).epsilon(1e-3).margin(1e-6));
        const Image a = load_image(d / ("cpu/" + frame_file_name(int64_t(t)))), b = load_image(d / ("gpu/" + frame_file_name(int64_t(t))));
        float worst = 0;
        for (size_t i = 0; i < a.rgb.size(); ++i) worst = std::max(worst, std::abs(a.rgb[i] - b.rgb[i]));
        CHECK(worst <= 2.0f / 255.0f);
    }
}
