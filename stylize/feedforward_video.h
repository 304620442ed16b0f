// stylize_video --model: a feed-forward style network applied to every frame of a video (a file ffmpeg
// reads, or a folder of numbered images), at the network's speed, with the style weights interpolated
// from --style-mix at the first frame to --style-mix-end at the last (the seed's "interpolate styles in
// real time, even on video"). Frames go to a folder (frame_00001.png, ...) and, with --output-video, into
// a video by ffmpeg. Checked before any frame: the input, the network, the mix, the output's format.
// request_stop() (Ctrl-C) stops between frames with nst::Interrupted; the same command starts over (a
// frame takes a forward pass, so no checkpoint is kept), rewriting the frames of its own earlier run.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

#include "stylize/feedforward.h"

namespace nst {

struct ModelVideoOptions {
    ModelOptions frame;          // model, image_size (0: the video's size), gpu, backend, style_mix, colours
    std::string content_video;
    std::string output_video;    // encoded by ffmpeg (.mp4, .mkv, .mov, .gif, ...), or none
    std::string output_frames;   // default OUTPUT_VIDEO.frames (removed after the video is written)
    std::string style_mix_end;   // multi-style: the mix at the last frame (default: --style-mix throughout)
    double fps = 0;              // the output's rate; 0: the input video's, or 25 for a folder
    int64_t max_frames = 0;      // 0: all
};

struct ModelVideoResult {
    int64_t frames = 0;
    double seconds = 0;          // the forward passes (frames per second = frames / seconds)
    std::string device, frames_dir;
};

ModelVideoResult stylize_video_with_model(const ModelVideoOptions& o, std::ostream& log);

}  // namespace nst
