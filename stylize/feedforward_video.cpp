// stylize_video --model (contract in feedforward_video.h).
#include "stylize/feedforward_video.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>

#include "core/autograd.h"
#include "dist/communicator.h"
#include "media/color.h"
#include "media/optical_flow.h"
#include "media/video_frames.h"
#include "stylize/stylize.h"
#include "stylize/write_targets.h"

namespace nst {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".stylize_video_model";  // names the run that wrote a folder's frames

std::string run_identity(const ModelVideoOptions& o) {
    std::ostringstream s;
    s << "model=" << fs::absolute(o.frame.model).string() << "\nvideo=" << fs::absolute(o.content_video).string()
      << "\nmix=" << o.frame.style_mix << "\nmix_end=" << o.style_mix_end << "\nsize=" << o.frame.image_size << "\n";
    if (o.steady > 0) s << "steady=" << o.steady << " " << o.flow << "\n";  // (absent when off: older folders still match)
    return s.str();
}

// The frames folder: made when missing; one holding frames of anything but this same run is refused.
// Where the frames go: --output-frames, else the folder made beside --output-video.
std::string frames_dir_of(const ModelVideoOptions& o) { return o.output_frames.empty() ? o.output_video + ".frames" : o.output_frames; }

std::string prepare_frames(const ModelVideoOptions& o) {
    const bool implicit = o.output_frames.empty();
    const std::string dir = frames_dir_of(o);
    const std::string flag = implicit ? "--output-video (its frames folder, OUTPUT.frames)" : "--output-frames";
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) throw Error(flag + " " + dir + ": exists and is not a folder");
    if (fs::exists(o.content_video, ec) && fs::equivalent(dir, o.content_video, ec))
        throw Error(flag + " " + dir + " is the --content-video folder: the input frames would be overwritten");
    if (!fs::exists(dir, ec)) {
        const fs::path parent = fs::path(dir).has_parent_path() ? fs::path(dir).parent_path() : fs::path(".");
        if (!fs::is_directory(parent, ec)) throw Error(flag + " " + dir + ": the folder " + parent.string() + " does not exist");
        if (!fs::create_directory(dir, ec) || ec) throw Error(flag + " " + dir + ": cannot create it (" + ec.message() + ")");
    }
    const fs::path marker = fs::path(dir) / kMarker;
    std::string previous;
    if (std::ifstream in(marker); in) previous.assign(std::istreambuf_iterator<char>(in), {});
    if (fs::exists(fs::path(dir) / frame_file_name(0), ec) && previous != run_identity(o))
        throw Error(flag + " " + dir + " already holds " + frame_file_name(0) + " of another run: choose an empty "
                    "folder or remove those frames (stylize_video never overwrites frames it did not write)");
    write_file_atomic(marker.string(), run_identity(o));
    return dir;
}

// The frames folder made and checked by rank 0 alone (the others would race on it); the others learn by a
// broadcast whether it succeeded, and when not all end together with rank 0's message (dist::EndsTogether).
std::string prepare_frames_on_root(const ModelVideoOptions& o, dist::Communicator& comm) {
    int ok = 1;
    std::string dir;
    if (comm.is_root()) {
        try {
            dir = prepare_frames(o);
        } catch (const Error& e) {
            if (comm.size() == 1) throw;
            ok = 0;
            comm.broadcast(&ok, sizeof ok, 0);
            throw dist::EndsTogether(e.what(), true);
        }
    }
    if (comm.size() > 1) comm.broadcast(&ok, sizeof ok, 0);
    if (!ok) throw dist::EndsTogether("the frames folder was refused on rank 0", false);
    return comm.is_root() ? dir : frames_dir_of(o);
}

// Frame t's picture: the network's, colours kept if asked; with --steady, the previous picture blended in
// where the optical flow explains the motion (prev_* carry the chain; the warping errors are summed).
Image paint_frame(StyleNetwork& net, const Image& frame, const ModelVideoOptions& o, Device d, FlowMethod flow, int64_t t,
                  Image& prev_in, Image& prev_out, Image& prev_raw, double& err_plain, double& err_steady) {
    const Image in = o.frame.image_size > 0 ? resize_longest(frame, o.frame.image_size) : frame;
    const Tensor content = image_to_tensor(in);
    Tensor out;
    {
        NoGradGuard no_grad;
        out = net.apply(content.to(d)).cpu();
    }
    if (o.frame.original_colors) out = original_colors(image_to_tensor(tensor_to_image(out)), content);
    Image picture = tensor_to_image(out);
    if (o.steady > 0) {
        if (t > 0) {
            const Flow backward = compute_flow(in, prev_in, flow), forward = compute_flow(prev_in, in, flow);
            const std::vector<float> mask = reliable_mask(backward, forward);
            const Image warped = warp(prev_out, backward);
            err_plain += warping_error(prev_raw, picture, backward, mask);
            prev_raw = picture;
            for (size_t i = 0; i < picture.rgb.size(); ++i)
                picture.rgb[i] += float(o.steady) * mask[i / 3] * (warped.rgb[i] - picture.rgb[i]);
            err_steady += warping_error(prev_out, picture, backward, mask);
        }
        if (t == 0) prev_raw = picture;
        prev_in = in, prev_out = picture;
    }
    return picture;
}

std::vector<float> mix_at(const std::vector<float>& a, const std::vector<float>& b, int64_t t, int64_t total) {
    const double s = total > 1 ? double(t) / double(total - 1) : 0.0;
    std::vector<float> m(a.size());
    for (size_t i = 0; i < a.size(); ++i) m[i] = float((1 - s) * a[i] + s * b[i]);
    return m;
}

}  // namespace

ModelVideoResult stylize_video_with_model(const ModelVideoOptions& o, std::ostream& log) {
    clear_stop_request();
    if (o.content_video.empty()) throw Error("--content-video is required (a video file or a folder of numbered images)");
    if (o.output_video.empty() && o.output_frames.empty()) throw Error("give --output-video FILE, --output-frames DIR, or both");
    if (o.frame.image_size < 0) throw Error("--image-size must be >= 0 (0: the video's own size)");
    if (o.max_frames < 0) throw Error("--max-frames must be >= 0 (0: every frame)");
    if (!(o.fps >= 0)) throw Error("--fps must be a positive number of frames per second");
    if (!(o.steady >= 0 && o.steady < 1)) throw Error("--steady must be at least 0 (off) and below 1 (1 would freeze the picture)");
    const FlowMethod flow = parse_flow_method(o.flow);
    dist::Communicator& comm = dist::world();
    const int N = comm.size(), me = comm.rank();
    if (N > 1 && o.steady > 0)  // (every rank refuses alike)
        dist::refuse_together("--steady blends each picture with the one before: a chain one process paints in order; run it without "
                    "mpirun, or drop --steady to share the frames over " + std::to_string(N) + " ranks");
    auto source = FrameSource::open(o.content_video, "--content-video", o.frame.max_pixels);
    check_write_targets({{"--output-video", o.output_video, ""}},
                        {{"--model", o.frame.model, ""}, {"--content-video", o.content_video, ""}});
    int w = source->width(), h = source->height();
    if (o.frame.image_size > 0) std::tie(w, h) = size_for_longest(w, h, o.frame.image_size);
    if (w < 4 || h < 4) throw Error("--content-video " + o.content_video + ": frames of " + std::to_string(w) + "x" +
                                    std::to_string(h) + " are too small for the network (at least 4x4)");
    if (!o.output_video.empty()) check_video_output(o.output_video, w, h);
    const Device d = open_model_device(o.frame);
    StyleNetwork net = load_style_network(o.frame, d);
    std::vector<float> start, end;
    if (net.styles() > 0) {
        if (o.frame.style_mix.empty())
            throw Error("--model " + o.frame.model + " holds " + std::to_string(net.styles()) + " styles: choose with --style-mix");
        start = parse_style_mix(o.frame.style_mix, net.styles());
        end = o.style_mix_end.empty() ? start : parse_style_mix(o.style_mix_end, net.styles());
    } else if (!o.frame.style_mix.empty() || !o.style_mix_end.empty()) {
        throw Error(std::string(o.frame.style_mix.empty() ? "--style-mix-end" : "--style-mix") + ": --model " +
                    o.frame.model + " holds one style");
    }
    ModelVideoResult r;
    r.device = d.str();
    r.frames_dir = prepare_frames_on_root(o, comm);
    if (!dist::same_on_every_rank(comm, std::hash<std::string>{}(std::to_string(source->width()) + "x" + std::to_string(source->height()) +
                                                                 "/" + std::to_string(source->frame_count()))))
        dist::refuse_together("--content-video " + o.content_video + ": the ranks see different videos (give every rank the same file, on a "
                    "file system they share)");
    int64_t total = source->frame_count() > 0 ? source->frame_count() : 0;
    if (o.max_frames > 0 && (total == 0 || o.max_frames < total)) total = o.max_frames;
    std::ostream quiet(nullptr);  // rank 0 speaks for the job
    std::ostream& say = comm.is_root() ? log : quiet;
    say << "stylize_video --model: " << o.content_video << " (" << source->width() << "x" << source->height() << ", " << total
        << " frames, at " << w << "x" << h << ") -> " << r.frames_dir << " on " << r.device
        << (N > 1 ? ", " + comm.describe() + " taking turns by frame" : std::string()) << std::endl;
    Image frame, prev_in, prev_out, prev_raw;
    int64_t t = 0;  // frames read (every rank reads every frame and paints its turns: t % N == me)
    double err_plain = 0, err_steady = 0;
    const auto wall0 = std::chrono::steady_clock::now();
    for (bool more = true; more;) {
        // One round: frames t .. t+N-1, this rank painting t+me. Then one all-reduce of {stop vote, frames
        // read, seconds}: every rank stops together, and agrees on the end of the clip.
        double round[3] = {stop_requested() ? 1.0 : 0.0, 0, 0};
        int read = 0;
        for (int q = 0; q < N && round[0] == 0; ++q) {
            if ((o.max_frames > 0 && t + q >= o.max_frames) || !source->next(frame)) break;
            ++read;
            if (q != me) continue;
            if (net.styles() > 0) net.set_style_mix(mix_at(start, end, t + q, std::max<int64_t>(total, t + q + 1)));
            const auto t0 = std::chrono::steady_clock::now();
            const Image picture = paint_frame(net, frame, o, d, flow, t + q, prev_in, prev_out, prev_raw, err_plain, err_steady);
            round[2] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();  // steadying included
            save_image(picture, (fs::path(r.frames_dir) / frame_file_name(t + q)).string());
        }
        round[1] = read;
        if (N > 1) comm.all_reduce_sum(round, 3);
        if (round[0] > 0)
            throw Interrupted("stopped at frame " + std::to_string(t + 1) + "; frames 1.." + std::to_string(t) + " are in " +
                              r.frames_dir + ": run the same command again to start over");
        if (round[1] != double(read) * N)
            throw Error("--content-video " + o.content_video + ": the ranks read different numbers of frames; give every rank the same video");
        t += read;
        r.seconds += round[2];
        more = read == N;
    }
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    if (t == 0) throw Error("--content-video " + o.content_video + ": no frames");
    r.frames = t;
    if (o.steady > 0 && t > 1) {
        r.warping_error_plain = err_plain / double(t - 1), r.warping_error_steady = err_steady / double(t - 1);
        say << "warping error between consecutive pictures: " << r.warping_error_plain << " as the network paints them, "
            << r.warping_error_steady << " steadied (--steady " << o.steady << ")" << std::endl;
    }
    say << "stylized " << t << " frames: " << (r.seconds > 0 ? double(t) / r.seconds : 0.0) << " frames per second";
    if (N > 1) say << " per rank, " << double(t) / std::max(r.wall_seconds, 1e-9) << " for the job";
    say << std::endl;
    if (!o.output_video.empty() && comm.is_root()) {
        const double fps = o.fps > 0 ? o.fps : source->fps() > 0 ? source->fps() : 25.0;
        encode_video(r.frames_dir, t, fps, o.output_video);
        say << "wrote " << o.output_video << " (" << t << " frames at " << fps << " fps)" << std::endl;
        if (o.output_frames.empty()) {  // the folder made for the video: removed, and only what we wrote
            std::error_code ec;
            for (int64_t i = 0; i < t; ++i) fs::remove(fs::path(r.frames_dir) / frame_file_name(i), ec);
            fs::remove(fs::path(r.frames_dir) / kMarker, ec);
            fs::remove(r.frames_dir, ec);
        }
    }
    return r;
}

}  // namespace nst
