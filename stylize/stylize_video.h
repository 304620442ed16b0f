// The video style-transfer run behind apps/stylize_video (Ruder, Dosovitskiy and Brox 2016; docs/nst.md,
// "Video"): frames in (a folder of numbered images or a video file), each frame optimised with the Gatys
// objective plus the short-term temporal term, started from the previous stylized frame warped by the
// optical flow; PNG frames and a video out. Every problem is an nst::Error naming the flag or file.
//
// Long runs: after each frame its PNG and a checkpoint (the previous output exactly, the position, the
// measurements so far, the run's fingerprint) are written, each by rename. Running the same command again
// after a kill continues at the next frame and gives the frames an uninterrupted run gives, bit for bit.
// request_stop() (Ctrl-C) drops the frame in progress and throws nst::Interrupted saying which frames
// are kept and that the same command continues.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "stylize/options.h"

namespace nst {

struct VideoOptions {
    // The per-frame options: style images and weights, layers, --image-size, --gpu, --backend, --weights,
    // the optimizer, --init (first frame, and every frame when --temporal-weight is 0), --seed,
    // --num-iterations (first frame), --print-iter, --original-colors, --max-pixels, --log-json,
    // --keep-checkpoint. Masks, scales, tiles and the preview are not for video (refused).
    StylizeOptions frame;
    std::string content_video;   // a video file, or a folder of numbered images
    std::string output_video;    // encoded by ffmpeg from the frames (.mp4, .mkv, .mov, .gif, ...), or none
    std::string output_frames;   // folder of frame_00001.png, ...; default OUTPUT_VIDEO.frames (removed after)
    double temporal_weight = 1e3;  // Ruder et al.'s default; 0: every frame on its own
    int num_iterations_later = 0;  // iterations for frames after the first; 0: half of --num-iterations
    double fps = 0;                // the output's frame rate; 0: the input video's, or 25 for a folder
    std::string flow = "dis";      // dis | farneback
    int64_t max_frames = 0;        // stop after this many frames (0: all); a larger value continues a run
};

struct VideoFrameReport {
    int64_t index = 0;
    double seconds = 0, loss = 0, temporal = 0;
    double reliable = 0;        // fraction of the frame's pixels where the flow is reliable (0 for frame 1)
    double warping_error = -1;  // against the previous output frame (-1 for the first frame)
};

struct VideoResult {
    int64_t frames = 0;                  // frames in the output (including those of an earlier, killed run)
    int64_t resumed_at = 0;              // the first frame this process stylized (0: not resumed)
    double seconds = 0;                  // this process's time
    double mean_warping_error = 0;       // over every consecutive pair of output frames
    std::vector<VideoFrameReport> per_frame;
    std::string device, frames_dir;
};

VideoResult stylize_video(const VideoOptions& o, std::ostream& log);

// The options alone (no file read): an Error naming the flag on any bad value.
void validate(const VideoOptions& o);

}  // namespace nst
