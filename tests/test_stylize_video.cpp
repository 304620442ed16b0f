// stylize_video end to end (stylize/stylize_video.h) on synthetic clips with known motion: the temporal term
// against independent frames by the warping error, resume after a stop, and the refusals before work.
// The committed example photo is panned to make the clip; the real VGG-19 weights are used where
// ../shared has them (the criterion), else the tiny random network (the same mechanics).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "base/file_io.h"
#include "media/image.h"
#include "stylize/stylize_video.h"
#include "media/video_frames.h"
#include "tests/catch.h"
#include "tests/fixtures.h"
#include "tests/video_clips.h"

using namespace nst;
namespace fs = std::filesystem;
using test::TempDir;
using test::write_pan;

namespace {

const std::string kPainting = std::string(NST_EXAMPLES_DIR) + "/starry_night.jpg";

bool real_weights() { return test::exists(test::shared("weights/vgg19-conv.safetensors")); }

VideoOptions options(const std::string& content, const std::string& frames_dir, bool real) {
    VideoOptions o;
    o.content_video = content;
    o.output_frames = frames_dir;
    o.frame.style_images = {kPainting};
    o.frame.weights = real ? test::shared("weights/vgg19-conv.safetensors") : test::fixture("vgg_tiny.safetensors");
    o.frame.gpu = -1;
    o.frame.image_size = 96;
    o.frame.print_iter = 0;
    o.frame.num_iterations = 60;
    o.num_iterations_later = 30;
    return o;
}

std::string bytes(const std::string& path) { return read_file_bytes(path); }

}  // namespace

TEST_CASE("an 8-frame clip panned 2 px per frame at 96x64: the temporal term's warping error is at most "
          "0.6x that of independent frames", "[stylize_video][e2e]") {
    TempDir d("pan");
    write_pan(d / "in", 8, 96, 64, 2);
    const bool real = real_weights();
    if (!real) std::cout << "(../shared has no VGG-19 weights: measured with the tiny random network)\n";
    std::ostringstream log;
    VideoOptions o = options(d / "in", d / "independent", real);
    o.temporal_weight = 0;
    const VideoResult independent = stylize_video(o, log);
    o.output_frames = d / "temporal";
    o.temporal_weight = 1e3;
    const VideoResult temporal = stylize_video(o, log);
    INFO(log.str());
    REQUIRE(independent.frames == 8);
    REQUIRE(temporal.frames == 8);
    for (int t = 0; t < 8; ++t) CHECK(fs::exists(d / ("temporal/" + frame_file_name(t))));
    CHECK_FALSE(fs::exists(d / "temporal/stylize_video.ckpt.safetensors"));  // spent after success
    std::cout << "warping error on the 2-px pan (" << (real ? "VGG-19" : "tiny network") << "): independent "
              << independent.mean_warping_error << ", temporal " << temporal.mean_warping_error << " ("
              << temporal.mean_warping_error / independent.mean_warping_error << "x)\n";
    CHECK(independent.mean_warping_error > 0);
    CHECK(temporal.mean_warping_error <= 0.6 * independent.mean_warping_error);
    // The flow was reliable on most of each frame (all but the strip entering at the right edge).
    for (const auto& f : temporal.per_frame)
        if (f.index > 0) CHECK(f.reliable > 0.8);
}

TEST_CASE("a stopped run continues at the next frame and gives the uninterrupted run's frames bit for bit",
          "[stylize_video][resume]") {
    TempDir d("resume");
    write_pan(d / "in", 5, 64, 48, 3);
    std::ostringstream log;
    VideoOptions o = options(d / "in", d / "whole", false);
    o.frame.num_iterations = 8;
    o.num_iterations_later = 5;
    const VideoResult whole = stylize_video(o, log);
    REQUIRE(whole.frames == 5);

    // The same run stopped after 2 frames (as a kill between frames leaves it), then run again.
    o.output_frames = d / "parts";
    o.max_frames = 2;
    o.frame.keep_checkpoint = true;
    REQUIRE(stylize_video(o, log).frames == 2);
    REQUIRE(fs::exists(d / "parts/stylize_video.ckpt.safetensors"));
    o.max_frames = 0;
    o.frame.keep_checkpoint = false;
    const VideoResult rest = stylize_video(o, log);
    INFO(log.str());
    CHECK(rest.resumed_at == 2);
    CHECK(rest.frames == 5);
    CHECK(rest.per_frame.size() == 5);  // the earlier frames' reports come from the checkpoint
    for (int t = 0; t < 5; ++t) {
        INFO("frame " << t + 1);
        CHECK(bytes(d / ("parts/" + frame_file_name(t))) == bytes(d / ("whole/" + frame_file_name(t))));
    }
    CHECK(rest.mean_warping_error == Approx(whole.mean_warping_error).epsilon(1e-12));
}

TEST_CASE("stylize_video refuses before any work: another run's frames, another run's checkpoint, the input "
          "folder as output, frames of different sizes, no frames, a missing folder", "[stylize_video][errors]") {
    TempDir d("refusals");
    write_pan(d / "in", 3, 64, 48, 2);
    std::ostringstream log;
    VideoOptions o = options(d / "in", d / "out", false);
    o.frame.num_iterations = 2;
    o.num_iterations_later = 2;
    o.max_frames = 1;
    o.frame.keep_checkpoint = true;
    REQUIRE(stylize_video(o, log).frames == 1);
    // The kept checkpoint belongs to this run; another temporal weight is another run.
    VideoOptions other = o;
    other.temporal_weight = 50;
    CHECK_THROWS_WITH(stylize_video(other, log), Catch::Contains("--temporal-weight '50' here, '1000' in the checkpoint"));
    // Frames without a checkpoint are never overwritten.
    fs::remove(d / "out/stylize_video.ckpt.safetensors");
    const std::string before = bytes(d / ("out/" + frame_file_name(0)));
    CHECK_THROWS_WITH(stylize_video(o, log), Catch::Contains("already holds frame_00001.png"));
    CHECK(bytes(d / ("out/" + frame_file_name(0))) == before);

    VideoOptions same = options(d / "in", d / "in", false);
    CHECK_THROWS_WITH(stylize_video(same, log), Catch::Contains("is the --content-video folder"));
    VideoOptions nowhere = options(d / "in", d / "missing/out", false);
    CHECK_THROWS_WITH(stylize_video(nowhere, log), Catch::Contains("does not exist"));

    fs::create_directories(d / "mixed");
    save_image(Image{8, 8, std::vector<float>(8 * 8 * 3, 0.5f)}, d / "mixed/f1.png");
    save_image(Image{9, 8, std::vector<float>(9 * 8 * 3, 0.5f)}, d / "mixed/f2.png");
    CHECK_THROWS_WITH(stylize_video(options(d / "mixed", d / "o2", false), log), Catch::Contains("size"));
    fs::create_directories(d / "empty");
    CHECK_THROWS_WITH(stylize_video(options(d / "empty", d / "o3", false), log), Catch::Contains("no"));
    CHECK_FALSE(fs::exists(d / "o2"));  // refused before its frames folder was made
    CHECK_THROWS_WITH(stylize_video(options(d / "nothing-here", d / "o4", false), log), Catch::Contains("nothing-here"));
}

TEST_CASE("stylize_video's options: each bad value is named", "[stylize_video][errors]") {
    VideoOptions o = options("in", "out", false);
    auto bad = [&](auto change, const char* says) {
        VideoOptions v = o;
        change(v);
        CHECK_THROWS_WITH(validate(v), Catch::Contains(says));
    };
    bad([](VideoOptions& v) { v.content_video.clear(); }, "--content-video is required");
    bad([](VideoOptions& v) { v.output_frames.clear(); }, "--output-video FILE, --output-frames DIR");
    bad([](VideoOptions& v) { v.temporal_weight = -1; }, "--temporal-weight");
    bad([](VideoOptions& v) { v.fps = -2; }, "--fps");
    bad([](VideoOptions& v) { v.flow = "lucas"; }, "--flow");
    bad([](VideoOptions& v) { v.output_video = "out"; }, "give the file an extension");
    bad([](VideoOptions& v) { v.frame.style_masks = {"m.png"}; }, "--style-masks is not supported for video");
    bad([](VideoOptions& v) { v.frame.scales = {64, 96}; }, "--scales is not supported");
    bad([](VideoOptions& v) { v.frame.style_images.clear(); }, "--style-image");
}
