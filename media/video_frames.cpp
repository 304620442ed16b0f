// Frames in and out of stylize_video (contract in video_frames.h): a folder of numbered images read with
// stb, or a video decoded by `ffmpeg` into a pipe of PPM images; PNG frames encoded back by `ffmpeg`.
// Everything that can be refused is refused in open() (sizes, counts, programs), before any frame is styled.
#include "media/video_frames.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "base/subprocess.h"

namespace nst {

namespace fs = std::filesystem;

namespace {

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

std::string too_large(const std::string& where, int w, int h, int64_t max_pixels) {
    return where + ": " + size_text(w, h) + " pixels is more than this program accepts (" + std::to_string(max_pixels) +
           "; --max-pixels raises the limit)";
}

// The first line of a program's messages, for one-line errors.
std::string first_line(const std::string& text) {
    const size_t start = text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return "";
    const size_t end = text.find_first_of("\r\n", start);
    return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// All of a program's messages, trimmed, for errors where the last lines matter too.
std::string trimmed(const std::string& text) {
    const size_t start = text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return "";
    return text.substr(start, text.find_last_not_of(" \t\r\n") - start + 1);
}

// ---- a folder of numbered images ----

bool is_image_name(const fs::path& p) {
    static const char* const exts[] = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm", "tga"};
    const std::string ext = extension_of(p.filename().string());
    return std::any_of(std::begin(exts), std::end(exts), [&](const char* e) { return ext == e; });
}

// The last run of digits in the name's stem without its leading zeros ("frame_010" -> "10"), compared
// as text (shorter is smaller) so that no frame number is too long to sort; "" when there is none.
std::string last_number(const fs::path& p) {
    const std::string stem = p.stem().string();
    size_t end = stem.size();
    while (end > 0 && !std::isdigit(static_cast<unsigned char>(stem[end - 1]))) --end;
    size_t begin = end;
    while (begin > 0 && std::isdigit(static_cast<unsigned char>(stem[begin - 1]))) --begin;
    if (begin == end) return "";
    while (begin + 1 < end && stem[begin] == '0') ++begin;
    return stem.substr(begin, end - begin);
}

class FolderSource : public FrameSource {
  public:
    FolderSource(const std::string& dir, const std::string& flag, int64_t max_pixels)
        : flag_(flag), dir_(dir), max_pixels_(max_pixels) {
        where_ = flag + " " + dir;
        list_frames();
        check_headers();
        count_ = int64_t(files_.size());
    }

    bool next(Image& frame) override {
        if (next_ >= files_.size()) return false;
        const std::string& file = files_[next_++];
        try {
            frame = load_image(file, max_pixels_);
        } catch (const Error& e) {
            throw Error(flag_ + " " + e.what());  // load_image's message names the file
        }
        if (frame.width != width_ || frame.height != height_)  // the file changed since open()
            throw Error(flag_ + " " + file + ": " + size_text(frame.width, frame.height) + ", but the frames are " +
                        size_text(width_, height_));
        return true;
    }

    void skip(int64_t n) override {  // no decoding: the headers were read in open()
        if (n < 0 || uint64_t(n) > files_.size() - next_)
            throw Error(flag_ + " " + dir_ + ": cannot skip " + std::to_string(n) + " frames: the folder has " +
                        std::to_string(files_.size()) + " frames, " + std::to_string(files_.size() - next_) + " left");
        next_ += size_t(n);
    }

  private:
    void list_frames() {
        struct Entry {
            std::string number, name, path;
        };
        std::vector<Entry> entries;
        std::error_code ec;
        for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
            const fs::path& p = it->path();
            std::error_code entry_ec;  // a dangling link is skipped, not an error of the folder
            const std::string name = p.filename().string();
            // Hidden files are left out: "._frame_1.png" (macOS metadata) and editors' temporaries are not frames.
            if (name.empty() || name[0] == '.' || !is_image_name(p) || !it->is_regular_file(entry_ec)) continue;
            const std::string number = last_number(p);
            if (number.empty())
                throw Error(flag_ + " " + dir_ + ": " + name +
                            " has no frame number in its name (frames are ordered by the last number in each name)");
            entries.push_back({number, name, p.string()});
        }
        if (ec) throw Error(flag_ + " " + dir_ + ": cannot read the folder (" + ec.message() + ")");
        if (entries.empty())
            throw Error(flag_ + " " + dir_ + ": no frames (no png, jpg, jpeg, bmp, ppm, pgm or tga images in the folder)");
        std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
            if (a.number.size() != b.number.size()) return a.number.size() < b.number.size();
            if (a.number != b.number) return a.number < b.number;
            return a.name < b.name;
        });
        for (Entry& e : entries) files_.push_back(std::move(e.path));
    }

    // Every header now, so that a stray frame of another size stops the run before the first frame is styled.
    void check_headers() {
        for (const std::string& file : files_) {
            int w = 0, h = 0;
            try {
                std::tie(w, h) = read_image_size(file, max_pixels_);
            } catch (const Error& e) {
                throw Error(flag_ + " " + e.what());
            }
            if (&file == &files_.front()) {
                width_ = w;
                height_ = h;
            } else if (w != width_ || h != height_) {
                throw Error(flag_ + " " + dir_ + ": frames of different sizes: " + files_.front() + " is " +
                            size_text(width_, height_) + ", " + file + " is " + size_text(w, h));
            }
        }
    }

    std::string flag_, dir_;
    int64_t max_pixels_;
    std::vector<std::string> files_;
    size_t next_ = 0;
};

// ---- a video file, decoded by ffmpeg ----

// "30000/1001" -> 29.97; 0 for "0/0" (ffprobe's "unknown") or anything unparsable.
double parse_rate(const std::string& s) {
    double num = 0, den = 0;
    if (std::sscanf(s.c_str(), "%lf/%lf", &num, &den) != 2 || !(num > 0) || !(den > 0)) return 0;
    return num / den;
}

std::string json_string(const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

int64_t json_int(const nlohmann::json& j, const char* key) {
    if (!j.contains(key)) return 0;
    const nlohmann::json& v = j[key];
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {  // ffprobe writes nb_read_packets as a string
        int64_t n = 0;
        const std::string s = v.get<std::string>();
        std::from_chars(s.data(), s.data() + s.size(), n);
        return n;
    }
    return 0;
}

class VideoSource : public FrameSource {
  public:
    VideoSource(const std::string& path, const std::string& flag, int64_t max_pixels)
        : flag_(flag), path_(path), abs_path_(fs::absolute(path).string()) {
        where_ = flag + " " + path;
        ffprobe_ = require_program("ffprobe", flag, path);
        ffmpeg_ = require_program("ffmpeg", flag, path);
        probe(max_pixels);
    }

    bool next(Image& frame) override {
        if (done_) return false;
        if (!decoder_) start();
        if (!read_header(frame)) return finish();
        const size_t bytes = size_t(frame.width) * size_t(frame.height) * 3;
        raw_.resize(bytes);
        if (fill(raw_.data(), bytes) != bytes) {
            finish();  // an ffmpeg failure explains a short frame better than "truncated"
            throw Error(where() + ": the decoder's output ended inside frame " + std::to_string(frames_read_ + 1));
        }
        frame.rgb.resize(bytes);
        for (size_t i = 0; i < bytes; ++i) frame.rgb[i] = float(raw_[i]) / float(maxval_);
        ++frames_read_;
        return true;
    }

    // skip(): the base's, decoded and dropped, as ffmpeg has no cheap exact seek to frame n.

  private:
    const std::string& where() const { return where_; }

    void probe(int64_t max_pixels) {
        const ProcessResult r = run_process({ffprobe_, "-v", "error", "-select_streams", "v:0", "-count_packets",
                                             "-show_entries",
                                             "stream=width,height,r_frame_rate,avg_frame_rate,nb_read_packets", "-of",
                                             "json", abs_path_});
        if (r.exit_code != 0) {
            const std::string why = first_line(r.err);
            throw Error(where() + ": not a video ffmpeg can read: " +
                        (why.empty() ? "ffprobe ended with " + ending_text(r.exit_code, r.signal) : why));
        }
        nlohmann::json info = nlohmann::json::parse(r.out, nullptr, false);
        if (info.is_discarded() || !info.is_object())
            throw Error(where() + ": ffprobe's description of the file is not JSON: " + first_line(r.out));
        const nlohmann::json streams = info.contains("streams") ? info["streams"] : nlohmann::json::array();
        if (!streams.is_array() || streams.empty() || !streams[0].is_object())
            throw Error(where() + ": no frames (the file has no video stream)");
        const nlohmann::json& s = streams[0];
        count_ = json_int(s, "nb_read_packets");
        if (count_ <= 0) throw Error(where() + ": no frames (the video stream is empty)");
        const int64_t w = json_int(s, "width"), h = json_int(s, "height");
        if (w < 1 || h < 1 || w > 1'000'000 || h > 1'000'000)
            throw Error(where() + ": the video stream has no usable size (" + std::to_string(w) + "x" +
                        std::to_string(h) + ")");
        if (w * h > max_pixels) throw Error(flag_ + " " + too_large(path_, int(w), int(h), max_pixels));
        width_ = int(w);
        height_ = int(h);
        // The average rate first: for a variable-rate video it is the one that keeps the duration when
        // the frames are encoded back at a constant rate. r_frame_rate when the container has no average.
        fps_ = parse_rate(json_string(s, "avg_frame_rate"));
        if (fps_ <= 0) fps_ = parse_rate(json_string(s, "r_frame_rate"));
    }

    // The decoder starts at the first frame asked for, so that open() alone costs only the probe.
    // -fps_mode passthrough: each decoded frame once, none repeated or dropped to fit a frame rate (a
    // variable-rate video would otherwise not give one output frame per input frame).
    void start() {
        decoder_ = std::make_unique<ProcessReader>(std::vector<std::string>{
            ffmpeg_, "-nostdin", "-v", "error", "-i", abs_path_, "-map", "0:v:0", "-fps_mode", "passthrough", "-f",
            "image2pipe", "-vcodec", "ppm", "-pix_fmt", "rgb24", "-"});
    }

    // At the end of the stream: the decoder's exit status decides between "all frames read" and an error.
    bool finish() {
        done_ = true;
        const int code = decoder_->wait();
        if (decoder_->signal() != 0)  // not the input's fault: someone or something ended the decoder
            throw Error(where() + ": the ffmpeg decoder was " + ending_text(code, decoder_->signal()) + " after " +
                        std::to_string(frames_read_) + " frames; run the same command again to continue");
        if (code != 0) {
            const std::string why = trimmed(decoder_->stderr_text());
            throw Error(where() + ": ffmpeg failed decoding after " + std::to_string(frames_read_) + " frames (" +
                        ending_text(code, 0) + ")" + (why.empty() ? "" : ": " + why));
        }
        return false;
    }

    // Buffered reads from the pipe: a PPM header is read byte by byte, so one system call per byte would
    // cost more than the pixels.
    int get() {
        if (pos_ == len_) {
            len_ = decoder_->read(buf_.data(), buf_.size());
            pos_ = 0;
            if (len_ == 0) return EOF;
        }
        return static_cast<unsigned char>(buf_[pos_++]);
    }

    size_t fill(unsigned char* out, size_t n) {
        const size_t from_buffer = std::min(n, len_ - pos_);
        std::memcpy(out, buf_.data() + pos_, from_buffer);
        pos_ += from_buffer;
        return from_buffer + decoder_->read(out + from_buffer, n - from_buffer);
    }

    // A header number: whitespace and '#' comments (to the end of the line) before it, at most 9 digits.
    int header_number(int& c) {
        for (;;) {
            while (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') c = get();
            if (c != '#') break;
            while (c != '\n' && c != '\r' && c != EOF) c = get();
        }
        int value = 0, digits = 0;
        for (; c >= '0' && c <= '9' && digits < 9; ++digits, c = get()) value = value * 10 + (c - '0');
        if (digits == 0 || (c >= '0' && c <= '9')) bad_header();
        return value;
    }

    [[noreturn]] void bad_header() {
        throw Error(where() + ": frame " + std::to_string(frames_read_ + 1) + " from ffmpeg is not a PPM (P6) image");
    }

    // Reads "P6 width height maxval" and the one whitespace byte before the pixels; false at the stream's end.
    bool read_header(Image& frame) {
        int c = get();
        if (c == EOF) return false;
        if (c != 'P' || get() != '6') bad_header();
        c = get();
        const int w = header_number(c), h = header_number(c);
        maxval_ = header_number(c);
        if (maxval_ < 1 || maxval_ > 255) bad_header();  // rgb24 was asked for: one byte per sample
        if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')) bad_header();
        if (w != width_ || h != height_)
            throw Error(where() + ": frame " + std::to_string(frames_read_ + 1) + " is " + size_text(w, h) +
                        ", but the video is " + size_text(width_, height_) + " (frames of different sizes)");
        frame.width = w;
        frame.height = h;
        return true;
    }

    std::string flag_, path_, abs_path_, ffprobe_, ffmpeg_;
    std::unique_ptr<ProcessReader> decoder_;
    std::vector<unsigned char> buf_ = std::vector<unsigned char>(4096), raw_;
    size_t pos_ = 0, len_ = 0;
    int maxval_ = 255;
    int64_t frames_read_ = 0;
    bool done_ = false;
};

}  // namespace

std::string frame_file_name(int64_t index) {
    char name[40];
    std::snprintf(name, sizeof name, "frame_%05lld.png", static_cast<long long>(index + 1));
    return name;
}

std::string require_program(const std::string& program, const std::string& flag, const std::string& path) {
    const std::string found = find_program(program);
    if (!found.empty()) return found;
    const std::string instead = flag == "--output-video" ? "or use --output-frames (a folder of PNG frames) instead"
                                                         : "or give " + flag + " a folder of numbered images instead";
    throw Error(flag + " " + path + ": needs the " + program + " program (from ffmpeg), which is not on $PATH: " +
                "install ffmpeg (on Debian: apt-get install ffmpeg), " + instead);
}

void FrameSource::skip(int64_t n) {
    Image frame;
    for (int64_t i = 0; i < n; ++i)
        if (!next(frame))
            throw Error(where_ + ": cannot skip " + std::to_string(n) + " frames: only " + std::to_string(i) +
                        " frames were left");
}

std::unique_ptr<FrameSource> FrameSource::open(const std::string& path, const std::string& flag, int64_t max_pixels) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) {
        if (ec && ec != std::errc::no_such_file_or_directory)
            throw Error(flag + " " + path + ": cannot read (" + ec.message() + ")");
        throw Error(flag + " " + path + ": no such file or folder");
    }
    if (fs::is_directory(st)) {
        if (::access(path.c_str(), R_OK | X_OK) != 0)
            throw Error(flag + " " + path + ": cannot read the folder (" + std::strerror(errno) + ")");
        return std::make_unique<FolderSource>(path, flag, max_pixels);
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(flag + " " + path + ": cannot read (" + std::strerror(errno) + ")");
    ::close(fd);
    return std::make_unique<VideoSource>(path, flag, max_pixels);
}

namespace {

// The frame rate as ffmpeg's -framerate reads it: the shortest decimal that gives the same double.
std::string rate_text(double fps) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, fps);
    return std::string(buf, r.ptr);
}

// Checks made before ffmpeg runs, each naming the flag: the rate, the frames, the output's folder.
void check_encode_request(const std::string& frames_dir, int64_t frame_count, double fps, const std::string& output) {
    if (!(fps > 0) || !std::isfinite(fps))
        throw Error("--fps " + rate_text(fps) + ": must be a number of frames per second above 0");
    const std::string where = "--output-video " + output;
    if (frame_count < 1) throw Error(where + ": no frames to encode");
    for (int64_t i = 0; i < frame_count; ++i) {
        const fs::path frame = fs::path(frames_dir) / frame_file_name(i);
        std::error_code ec;
        if (!fs::is_regular_file(frame, ec))
            throw Error(where + ": frame " + frame.string() + " is missing (" + std::to_string(frame_count) +
                        " frames expected)");
    }
    const fs::path out(output);
    if (out.filename().empty() || out.extension().empty())
        throw Error(where + ": needs a file name with an extension (.mp4, .mkv, .mov, .gif, ...): ffmpeg chooses "
                            "the format by it");
    const std::string folder = out.has_parent_path() ? out.parent_path().string() : ".";
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) throw Error(where + ": the folder " + folder + " does not exist");
    if (::access(folder.c_str(), W_OK | X_OK) != 0)
        throw Error(where + ": cannot write in the folder " + folder + " (" + std::strerror(errno) + ")");
    if (fs::is_directory(out, ec)) throw Error(where + ": is a folder");
}

// An odd width or height is padded to even with a copy of the last column or row, not a black line (4:2:0
// chroma cannot be cropped by one pixel). gbrp first: fillborders works on planar formats, and RGB stays
// exact until the final conversion to yuv420p.
std::string even_size_filter(const fs::path& first_frame) {
    const auto [w, h] = read_image_size(first_frame.string(), std::numeric_limits<int64_t>::max());
    if (w % 2 == 0 && h % 2 == 0) return "null";
    return "format=gbrp,pad=" + std::to_string(w + w % 2) + ":" + std::to_string(h + h % 2) +
           ",fillborders=right=" + std::to_string(w % 2) + ":bottom=" + std::to_string(h % 2) + ":mode=smear";
}

}  // namespace

namespace {

// A hidden file beside `output`, with its extension (by which ffmpeg picks the container): "tmp" for the
// encode renamed over it, "probe" for check_video_output's trial.
fs::path temporary_beside(const std::string& output, const std::string& kind) {
    const fs::path out(output);
    std::string name = ".";  // built with += : GCC 12 misreports "." + string as overlapping (-Wrestrict)
    name += out.stem().string() + "." + kind + "-" + std::to_string(::getpid()) + out.extension().string();
    return fs::absolute(out).parent_path() / name;
}

// ffmpeg encoding frames_dir/frame_00001.png... (frame_count of them) at fps into `target` (removed when it
// fails). Returns "" on success, else why, with the program's messages.
std::string run_encoder(const std::string& ffmpeg, const std::string& frames_dir, int64_t frame_count, double fps,
                        const fs::path& target) {
    // Absolute paths: ffmpeg would read a name starting with '-' as an option, and "name:..." as a protocol.
    std::string pattern = (fs::absolute(frames_dir) / "frame_%05d.png").string();
    // The image2 reader expands %-sequences anywhere in the name: a '%' in the folder's name is doubled.
    for (size_t i = pattern.rfind('/'); i-- > 0;)
        if (pattern[i] == '%') pattern.insert(i, 1, '%');
    std::vector<std::string> argv = {ffmpeg, "-nostdin", "-v", "error", "-y", "-framerate", rate_text(fps),
                                     "-start_number", "1", "-i", pattern, "-frames:v", std::to_string(frame_count)};
    const std::string lext = extension_of(target.string());
    if (lext == "mp4" || lext == "mkv" || lext == "mov")  // H.264 players want 4:2:0, which needs even sizes
        argv.insert(argv.end(), {"-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-vf",
                                 even_size_filter(fs::path(frames_dir) / frame_file_name(0))});
    argv.push_back(target.string());
    std::error_code ec;
    ProcessResult r;
    try {
        r = run_process(argv);
    } catch (...) {
        fs::remove(target, ec);
        throw;
    }
    if (r.exit_code == 0 && fs::is_regular_file(target, ec)) return "";
    fs::remove(target, ec);
    const std::string why = trimmed(r.err);
    return ending_text(r.exit_code, r.signal) + (why.empty() ? "" : ": " + why);
}

}  // namespace

void encode_video(const std::string& frames_dir, int64_t frame_count, double fps, const std::string& output) {
    check_encode_request(frames_dir, frame_count, fps, output);
    const std::string ffmpeg = require_program("ffmpeg", "--output-video", output);
    const fs::path tmp = temporary_beside(output, "tmp");
    if (const std::string why = run_encoder(ffmpeg, frames_dir, frame_count, fps, tmp); !why.empty())
        throw Error("--output-video " + output + ": ffmpeg could not encode the frames (" + why + ")");
    std::error_code ec;
    fs::rename(tmp, output, ec);
    if (ec) {
        const std::string why = ec.message();
        fs::remove(tmp, ec);
        throw Error("--output-video " + output + ": cannot replace the file (" + why + ")");
    }
}

void check_video_output(const std::string& output, int width, int height) {
    const std::string ffmpeg = require_program("ffmpeg", "--output-video", output);
    std::error_code ec;
    const fs::path dir = fs::temp_directory_path(ec) / ("nst-video-probe-" + std::to_string(::getpid()));
    fs::create_directories(dir, ec);
    if (ec) return;  // no room for the trial: the real encode still reports any problem
    std::string why;
    try {
        save_image(Image{width, height, std::vector<float>(size_t(width) * height * 3, 0.5f)},
                   (dir / frame_file_name(0)).string());
        const fs::path probe = temporary_beside(output, "probe");
        why = run_encoder(ffmpeg, dir.string(), 1, 25, probe);
        fs::remove(probe, ec);  // the trial's video: run_encoder removed it only on failure
    } catch (const Error&) {  // the trial frame could not be written (a full /tmp): not the output's fault
    }
    fs::remove_all(dir, ec);
    why = first_line(why);  // ffmpeg's first message, without its "[NULL @ 0x...] " context
    if (const size_t open = why.find(": ["), close = why.find("] ", open); open != std::string::npos && close != std::string::npos)
        why.erase(open + 2, close + 2 - (open + 2));
    if (!why.empty())
        throw Error("--output-video " + output + ": ffmpeg cannot write this file (tried with one frame, before "
                    "any is stylized: " + why + "); choose a video extension such as .mp4, .mkv, .mov or .gif");
}

}  // namespace nst
