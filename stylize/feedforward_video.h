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
    // Steadying (0: off): where the optical flow between consecutive input frames is reliable (Ruder et
    // al.'s mask), the picture becomes (1 − steady)·network + steady·(the previous picture warped by the
    // flow). 0.5 halves what changes between frames that the motion does not explain; 1 would freeze it.
    double steady = 0;
    std::string flow = "dis";    // dis | farneback
};

struct ModelVideoResult {
    int64_t frames = 0;
    double seconds = 0;          // the forward passes and any steadying (frames per second = frames / seconds),
                                 // summed over the ranks under mpirun
    double wall_seconds = 0;     // the frame loop from its start to its end, decoding and writing included
    std::string device, frames_dir;
    // With steady > 0: the mean warping error (media/optical_flow.h) between consecutive pictures over the
    // clip, of the network's own pictures and of the steadied ones (frames 2.. against the picture before).
    double warping_error_plain = 0, warping_error_steady = 0;
};

ModelVideoResult stylize_video_with_model(const ModelVideoOptions& o, std::ostream& log);

}  // namespace nst
