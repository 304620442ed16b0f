// Frames in and out of stylize_video. In: a folder of numbered images (stb_image, media/image.h), or a video
// file decoded by the `ffmpeg` program through a pipe (one PPM image per frame). Out: PNG frames named
// frame_00001.png, frame_00002.png, ... in a folder, and a video encoded from them by `ffmpeg`.
// Why the program and not libavformat: its command line is stable across FFmpeg's releases (the C API's
// send/receive and channel-layout changes are not), a decoder crash stays in another process, and
// Debian's `ffmpeg` package is the one thing a user installs. Every problem is an nst::Error naming the flag.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "media/image.h"

namespace nst {

// The numbered frame file name used for output: frame_00001.png for index 0.
std::string frame_file_name(int64_t index);

// Throws the clear error for a missing `ffmpeg` (or `ffprobe`) program: which flag needs it, and how
// to install it or what to give instead. `program` is "ffmpeg" or "ffprobe"; returns its path.
std::string require_program(const std::string& program, const std::string& flag, const std::string& path);

class FrameSource {
  public:
    virtual ~FrameSource() = default;
    int width() const { return width_; }
    int height() const { return height_; }
    int64_t frame_count() const { return count_; }  // the number of frames (a video's as its container says, or -1)
    double fps() const { return fps_; }             // the video's frame rate, or 0 for a folder
    // The next frame (RGB 0..1), or false at the end of the input. A frame of another size is an Error.
    virtual bool next(Image& frame) = 0;
    // Skips n frames (resuming a run); an Error if the input ends first. By default decoded and dropped.
    virtual void skip(int64_t n);

    // path: a folder of numbered images (png, jpg, jpeg, bmp, ppm, pgm, tga; sorted by the last number in
    // each name), or a video file. Checked before any heavy work: a missing or unreadable path, no frames,
    // frames of different sizes (a folder's headers are all read here), no ffmpeg/ffprobe for a video, a
    // frame larger than max_pixels. `flag` names the option in messages.
    static std::unique_ptr<FrameSource> open(const std::string& path, const std::string& flag = "--content-video",
                                             int64_t max_pixels = kDefaultMaxPixels);

  protected:
    std::string where_;  // the flag and the path, to begin messages with
    int width_ = 0, height_ = 0;
    int64_t count_ = -1;
    double fps_ = 0;
};

// Encodes frames_dir/frame_00001.png ... (frame_count of them) into `output` at fps frames per second with
// the ffmpeg program: H.264 (yuv420p; an odd width or height padded to even by repeating the last column
// or row) for .mp4/.mkv/.mov, ffmpeg's choice for other extensions. Written to a temporary file beside
// `output`, renamed when complete. Errors name --output-video.
void encode_video(const std::string& frames_dir, int64_t frame_count, double fps, const std::string& output);

// Before any frame is stylized: that ffmpeg can write `output` (its container, by the extension, and its
// folder), by encoding one grey width x height frame as encode_video would into a hidden file beside it,
// removed after. An Error naming --output-video with ffmpeg's reason when it cannot (o.txt).
void check_video_output(const std::string& output, int width, int height);

}  // namespace nst
