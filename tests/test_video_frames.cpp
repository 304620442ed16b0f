// stylize_video's frames: the subprocess runner (captured output, large output, killing, verbatim
// arguments), folders of numbered images, videos decoded by ffmpeg, encode_video, and the errors of each.
// Tests that need the ffmpeg program print NST_SKIPPED without it; the "no ffmpeg" test hides it itself.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/subprocess.h"
#include "media/image.h"
#include "media/video_frames.h"
#include "tests/catch.h"
#include "tests/video_clips.h"

using namespace nst;
namespace fs = std::filesystem;
using nst::test::TempDir;

namespace {

// Sets an environment variable for one scope and restores it afterwards.
struct EnvGuard {
    std::string name, old;
    bool had;
    EnvGuard(const std::string& n, const std::string& value) : name(n) {
        const char* v = std::getenv(n.c_str());
        had = v != nullptr;
        if (had) old = v;
        ::setenv(n.c_str(), value.c_str(), 1);
    }
    ~EnvGuard() {
        if (had)
            ::setenv(name.c_str(), old.c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
};

bool have_ffmpeg() { return !find_program("ffmpeg").empty() && !find_program("ffprobe").empty(); }

#define NEED_FFMPEG()                                                                  \
    do {                                                                               \
        if (!have_ffmpeg()) {                                                          \
            std::cout << "NST_SKIPPED: no ffmpeg/ffprobe program on $PATH\n";          \
            return;                                                                    \
        }                                                                              \
    } while (0)

// A w x h image whose pixels depend on position and `seed`, so that frames differ and orders show.
Image pattern(int w, int h, int seed) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.resize(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                img.rgb[(size_t(y) * w + x) * 3 + c] = float((x * 7 + y * 13 + c * 50 + seed * 40) % 256) / 255.f;
    return img;
}

Image solid(int w, int h, int value) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign(size_t(w) * h * 3, float(value) / 255.f);
    return img;
}

void ffmpeg_ok(std::vector<std::string> args) {
    args.insert(args.begin(), {"ffmpeg", "-nostdin", "-v", "error", "-y"});
    const ProcessResult r = run_process(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

// ---- subprocess ----

TEST_CASE("run_process captures stdout, stderr and the exit code", "[subprocess]") {
    const ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    CHECK(r.exit_code == 3);
    CHECK(run_process({"sh", "-c", "kill -9 $$"}).exit_code == 128 + 9);
    CHECK(run_process({"sh", "-c", "read x; echo \"[$x]\""}).out == "[]\n");  // stdin is /dev/null
}

TEST_CASE("a program's ending is told by exit status or by the signal's name", "[subprocess]") {
    const ProcessResult killed = run_process({"sh", "-c", "kill -9 $$"});
    CHECK(killed.signal == 9);
    CHECK(ending_text(killed.exit_code, killed.signal) == "killed by signal 9 (SIGKILL)");
    const ProcessResult exited = run_process({"sh", "-c", "exit 137"});  // the same code, by exit
    CHECK(exited.exit_code == 137);
    CHECK(exited.signal == 0);
    CHECK(ending_text(exited.exit_code, exited.signal) == "exit status 137");
    ProcessReader p({"sh", "-c", "kill -INT $$; sleep 5"});
    char c;
    CHECK(p.read(&c, 1) == 0);
    CHECK(p.wait() == 128 + 2);
    CHECK(p.signal() == 2);
    CHECK(ending_text(p.wait(), p.signal()) == "killed by signal 2 (SIGINT)");
}

TEST_CASE("a program runs in its own process group, so a terminal's Ctrl-C does not reach it", "[subprocess]") {
    // Field 5 of /proc/PID/stat is the process group (the command's name, field 2, is "sh": no spaces).
    const ProcessResult r = run_process({"sh", "-c", "cut -d' ' -f5 /proc/$$/stat"});
    REQUIRE(r.exit_code == 0);
    const long child = std::stol(r.out);
    CHECK(child != long(::getpgrp()));
    CHECK(child > 0);
    // The same for a reader.
    ProcessReader reader({"sh", "-c", "cut -d' ' -f5 /proc/$$/stat"});
    char buf[64] = {};
    const size_t n = reader.read(buf, sizeof buf - 1);
    REQUIRE(reader.wait() == 0);
    CHECK(std::stol(std::string(buf, n)) != long(::getpgrp()));
}

TEST_CASE("run_process drains large stdout and stderr together without deadlock", "[subprocess]") {
    const ProcessResult r =
        run_process({"sh", "-c", "head -c 3000000 /dev/zero >&2; head -c 2000000 /dev/zero; echo done >&2"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == 2000000);
    CHECK(r.err.size() == 3000005);
}

TEST_CASE("a program that cannot be started is an Error naming it", "[subprocess]") {
    CHECK_THAT(error_of([] { run_process({"nst-no-such-program", "x"}); }), Catch::Contains("nst-no-such-program"));
    CHECK_THAT(error_of([] { ProcessReader p({"nst-no-such-program"}); }), Catch::Contains("nst-no-such-program"));
    CHECK_THAT(error_of([] { run_process({"/nonexistent/prog"}); }), Catch::Contains("/nonexistent/prog"));
    CHECK(find_program("nst-no-such-program").empty());
    const std::string sh = find_program("sh");
    REQUIRE(!sh.empty());
    CHECK(sh.find('/') != std::string::npos);
}

TEST_CASE("find_program reads $PATH at the call and wants an executable regular file", "[subprocess]") {
    TempDir dir;
    fs::create_directory(dir.path / "prog_dir");  // a folder is not a program
    std::ofstream(dir / "prog_plain") << "#!/bin/sh\n";
    std::ofstream(dir / "prog_exec") << "#!/bin/sh\necho hi\n";
    fs::permissions(dir / "prog_exec", fs::perms::owner_all);
    fs::permissions(dir / "prog_plain", fs::perms::owner_read | fs::perms::owner_write);
    EnvGuard path("PATH", dir.path.string() + ":/usr/bin:/bin");
    CHECK(find_program("prog_dir").empty());
    CHECK(find_program("prog_exec") == dir / "prog_exec");
    CHECK(run_process({"prog_exec"}).out == "hi\n");
    if (::geteuid() != 0) CHECK(find_program("prog_plain").empty());  // root may "execute" anything with an x bit only
}

TEST_CASE("ProcessReader reads a large output fully and reports the exit code", "[subprocess]") {
    ProcessReader p({"head", "-c", "3000000", "/dev/zero"});
    std::vector<char> buf(65536);
    size_t total = 0, n = 0;
    bool all_zero = true;
    while ((n = p.read(buf.data(), buf.size())) > 0) {
        total += n;
        for (size_t i = 0; i < n; ++i) all_zero &= buf[i] == 0;
    }
    CHECK(total == 3000000);
    CHECK(all_zero);
    CHECK(p.wait() == 0);
    CHECK(p.wait() == 0);  // a second wait returns the same
}

TEST_CASE("ProcessReader keeps stderr in a temporary file, removed with it", "[subprocess]") {
    TempDir dir;
    EnvGuard tmpdir("TMPDIR", dir.path.string());
    {
        ProcessReader p({"sh", "-c", "echo oops >&2; printf abc; exit 2"});
        char buf[16];
        CHECK(p.read(buf, sizeof buf) == 3);
        CHECK(p.wait() == 2);
        CHECK(p.stderr_text() == "oops\n");
        CHECK(names_in(dir.path).size() == 1);
    }
    CHECK(names_in(dir.path).empty());
}

TEST_CASE("ProcessReader's destructor kills a program still running, without hanging", "[subprocess]") {
    TempDir dir;
    EnvGuard tmpdir("TMPDIR", dir.path.string());
    const auto start = std::chrono::steady_clock::now();
    {
        ProcessReader p({"yes"});
        char buf[1000];
        CHECK(p.read(buf, sizeof buf) == sizeof buf);
        CHECK(buf[0] == 'y');
    }
    {
        ProcessReader p({"sleep", "30"});  // never writes: the pipe is not what ends it
    }
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK(names_in(dir.path).empty());
}

TEST_CASE("a program started while this thread blocks SIGTERM can still be killed", "[subprocess]") {
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    const auto start = std::chrono::steady_clock::now();
    {
        ProcessReader p({"sleep", "20"});  // would inherit the blocked SIGTERM and outlive the destructor's kill
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("arguments with spaces, quotes and shell characters are passed verbatim", "[subprocess]") {
    const std::vector<std::string> args = {"a b", "it's", "\"q\"", "$(echo no)", "*", "", "semi;colon"};
    std::vector<std::string> argv = {"printf", "%s|"};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = run_process(argv);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "a b|it's|\"q\"|$(echo no)|*||semi;colon|");
    ProcessReader p(argv);
    std::string out(100, '\0');
    out.resize(p.read(out.data(), out.size()));
    CHECK(out == r.out);
    CHECK(p.wait() == 0);
}

// ---- a folder of numbered images ----

TEST_CASE("a folder's frames are ordered by the last number in each name", "[video_frames]") {
    TempDir dir;
    save_image(solid(4, 3, 30), dir / "f10.png");
    save_image(solid(4, 3, 10), dir / "f1.png");
    save_image(solid(4, 3, 20), dir / "f2.png");
    save_image(solid(4, 3, 200), dir / ".f0.png");  // hidden: not a frame
    std::ofstream(dir / "notes.txt") << "not an image, no number";
    auto src = FrameSource::open(dir.path.string());
    CHECK(src->width() == 4);
    CHECK(src->height() == 3);
    CHECK(src->frame_count() == 3);
    CHECK(src->fps() == 0);
    Image frame;
    for (int expected : {10, 20, 30}) {
        REQUIRE(src->next(frame));
        CHECK(frame.width == 4);
        CHECK(frame.height == 3);
        CHECK(std::lround(frame.rgb[0] * 255) == expected);
    }
    CHECK_FALSE(src->next(frame));
}

TEST_CASE("the last number decides, ties go by name, extensions in any case", "[video_frames]") {
    TempDir dir;
    save_image(solid(2, 2, 1), dir / "take2_frame_003.png");
    save_image(solid(2, 2, 2), dir / "take9_frame_3.PNG");  // 3 again: after "take2..." by name
    save_image(solid(2, 2, 3), dir / "a100b.jpg");
    save_image(solid(2, 2, 4), dir / "shot_0007.png");
    auto src = FrameSource::open(dir.path.string());
    Image frame;
    std::vector<int> order;
    while (src->next(frame)) order.push_back(int(std::lround(frame.rgb[0] * 255)));
    CHECK(order == std::vector<int>{1, 2, 4, 3});
}

TEST_CASE("a folder with frames of different sizes is refused at open, naming both", "[video_frames]") {
    TempDir dir;
    save_image(solid(4, 3, 0), dir / "f1.png");
    save_image(solid(4, 3, 0), dir / "f2.png");
    save_image(solid(5, 3, 0), dir / "f3.png");
    const std::string msg = error_of([&] { FrameSource::open(dir.path.string()); });
    CHECK_THAT(msg, Catch::Contains("--content-video " + dir.path.string()));
    CHECK_THAT(msg, Catch::Contains("f1.png is 4x3"));
    CHECK_THAT(msg, Catch::Contains("f3.png is 5x3"));
    CHECK_THAT(msg, Catch::Contains("different sizes"));
}

TEST_CASE("a folder without frames, a name without a number, a bad image and a missing path are errors",
          "[video_frames]") {
    TempDir dir;
    const std::string empty = dir / "empty";
    fs::create_directory(empty);
    CHECK_THAT(error_of([&] { FrameSource::open(empty); }), Catch::Contains("--content-video " + empty + ": no frames"));
    std::ofstream(empty + "/readme.txt") << "text";
    CHECK_THAT(error_of([&] { FrameSource::open(empty); }), Catch::Contains("no frames"));

    const std::string unnumbered = dir / "unnumbered";
    fs::create_directory(unnumbered);
    save_image(solid(2, 2, 0), unnumbered + "/f1.png");
    save_image(solid(2, 2, 0), unnumbered + "/cover.png");
    const std::string msg = error_of([&] { FrameSource::open(unnumbered, "--frames"); });
    CHECK_THAT(msg, Catch::Contains("--frames " + unnumbered));
    CHECK_THAT(msg, Catch::Contains("cover.png has no frame number"));

    const std::string bad = dir / "bad";
    fs::create_directory(bad);
    std::ofstream(bad + "/f1.png") << "not a png";
    CHECK_THAT(error_of([&] { FrameSource::open(bad); }), Catch::Contains("f1.png: not a readable image"));
    std::ofstream(bad + "/f1.png", std::ios::trunc) << "P6\n99999999999 1\n255\n";
    CHECK_THAT(error_of([&] { FrameSource::open(bad); }), Catch::Contains("not a readable image"));

    const std::string missing = dir / "no such";
    CHECK(error_of([&] { FrameSource::open(missing); }) == "--content-video " + missing + ": no such file or folder");
    CHECK(error_of([&] { FrameSource::open(missing + ".mp4"); }) ==
          "--content-video " + missing + ".mp4: no such file or folder");
}

TEST_CASE("a folder's frames over max_pixels are refused at open", "[video_frames]") {
    TempDir dir;
    save_image(solid(20, 10, 0), dir / "f1.png");
    CHECK_THAT(error_of([&] { FrameSource::open(dir.path.string(), "--content-video", 100); }),
               Catch::Contains("20x10 pixels is more than this program accepts (100"));
}

TEST_CASE("an unreadable path is an error", "[video_frames]") {
    TempDir dir;
    std::ofstream(dir / "x.mp4") << "data";
    fs::permissions(dir / "x.mp4", fs::perms::none);
    fs::create_directory(dir / "frames");
    fs::permissions(dir / "frames", fs::perms::none);
    auto check = [&] {
        const std::string a = error_of([&] { FrameSource::open(dir / "x.mp4"); });
        const std::string b = error_of([&] { FrameSource::open(dir / "frames"); });
        return a.find("--content-video " + dir / "x.mp4") != std::string::npos &&
               b.find("cannot read the folder") != std::string::npos;
    };
    if (::geteuid() != 0) {
        CHECK(check());
    } else {
        // Root reads everything: the same checks in a child that has become "nobody" (uid/gid 65534),
        // which can pass through the 0755 folder but not read what has no permissions at all.
        fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            const bool dropped = ::setgid(65534) == 0 && ::setuid(65534) == 0;
            ::_exit(!dropped ? 2 : check() ? 0 : 1);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    fs::permissions(dir / "frames", fs::perms::owner_all);
}

TEST_CASE("skip() passes over frames, an error when the input ends first", "[video_frames]") {
    TempDir dir;
    for (const char* name : {"f1.png", "f2.png", "f3.png"}) save_image(solid(2, 2, (name[1] - '0') * 10), dir / name);
    auto src = FrameSource::open(dir.path.string());
    src->skip(2);
    Image frame;
    REQUIRE(src->next(frame));
    CHECK(std::lround(frame.rgb[0] * 255) == 30);
    CHECK_FALSE(src->next(frame));
    auto again = FrameSource::open(dir.path.string());
    const std::string msg = error_of([&] { again->skip(4); });
    CHECK_THAT(msg, Catch::Contains("--content-video " + dir.path.string()));
    CHECK_THAT(msg, Catch::Contains("has 3 frames"));
    again->skip(3);
    CHECK_FALSE(again->next(frame));
}

TEST_CASE("frame_file_name numbers from 1 with five digits", "[video_frames]") {
    CHECK(frame_file_name(0) == "frame_00001.png");
    CHECK(frame_file_name(41) == "frame_00042.png");
    CHECK(frame_file_name(123455) == "frame_123456.png");
}

// ---- video files through ffmpeg ----

TEST_CASE("a video is read frame by frame with its size, rate and count", "[video_frames]") {
    NEED_FFMPEG();
    TempDir dir;
    const std::string clip = dir / "my clip 'quoted' $x.mp4";  // passed verbatim to ffprobe and ffmpeg
    ffmpeg_ok({"-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "8", "-pix_fmt", "yuv420p", clip});
    auto src = FrameSource::open(clip);
    CHECK(src->width() == 96);
    CHECK(src->height() == 64);
    CHECK(src->fps() == Approx(10));
    CHECK(src->frame_count() == 8);
    Image frame;
    int n = 0;
    while (src->next(frame)) {
        ++n;
        CHECK(frame.width == 96);
        CHECK(frame.height == 64);
        CHECK(frame.rgb.size() == size_t(96 * 64 * 3));
    }
    CHECK(n == 8);
    CHECK_FALSE(src->next(frame));

    auto skipping = FrameSource::open(clip);
    skipping->skip(5);
    n = 0;
    while (skipping->next(frame)) ++n;
    CHECK(n == 3);
    auto short_clip = FrameSource::open(clip);
    const std::string msg = error_of([&] { short_clip->skip(20); });
    CHECK_THAT(msg, Catch::Contains("--content-video " + clip));
    CHECK_THAT(msg, Catch::Contains("only 8 frames"));

    auto abandoned = FrameSource::open(clip);  // destroyed with the decoder mid-stream: killed, not waited on
    REQUIRE(abandoned->next(frame));
}

TEST_CASE("a losslessly encoded video gives back its source pixels", "[video_frames]") {
    NEED_FFMPEG();
    TempDir dir;
    fs::create_directory(dir.path / "src");
    std::vector<Image> frames;
    for (int i = 0; i < 4; ++i) {
        frames.push_back(pattern(33, 17, i));
        save_image(frames.back(), dir / ("src/" + frame_file_name(i)));
    }
    const std::string clip = dir / "lossless.mkv";
    ffmpeg_ok({"-framerate", "5", "-i", dir / "src/frame_%05d.png", "-c:v", "ffv1", clip});
    auto src = FrameSource::open(clip);
    CHECK(src->frame_count() == 4);
    CHECK(src->fps() == Approx(5));
    Image frame;
    for (const Image& expected : frames) {
        REQUIRE(src->next(frame));
        REQUIRE(frame.width == 33);
        REQUIRE(frame.height == 17);
        float worst = 0;
        for (size_t i = 0; i < frame.rgb.size(); ++i) worst = std::max(worst, std::abs(frame.rgb[i] - expected.rgb[i]));
        CHECK(worst <= 1.f / 255 + 1e-6f);
    }
    CHECK_FALSE(src->next(frame));
}

TEST_CASE("a file that is not a video, one without video frames and one too large are refused at open",
          "[video_frames]") {
    NEED_FFMPEG();
    TempDir dir;
    std::ofstream(dir / "x.mp4") << "this is text, not a video\n";
    const std::string msg = error_of([&] { FrameSource::open(dir / "x.mp4"); });
    CHECK_THAT(msg, Catch::Contains("--content-video " + dir / "x.mp4" + ": not a video ffmpeg can read: "));
    CHECK(msg.size() > msg.find(": not a video ffmpeg can read: ") + 31);  // ffprobe's reason follows

    ffmpeg_ok({"-f", "lavfi", "-i", "anullsrc", "-t", "1", dir / "a.m4a"});
    CHECK_THAT(error_of([&] { FrameSource::open(dir / "a.m4a"); }),
               Catch::Contains("--content-video " + dir / "a.m4a" + ": no frames"));

    ffmpeg_ok({"-f", "lavfi", "-i", "testsrc=size=96x64:rate=10", "-frames:v", "2", dir / "big.mkv"});
    CHECK_THAT(error_of([&] { FrameSource::open(dir / "big.mkv", "--content-video", 96 * 64 - 1); }),
               Catch::Contains("96x64 pixels is more than this program accepts"));
}

// ---- the decoder's PPM stream, from stand-in ffprobe/ffmpeg scripts (no real ffmpeg needed) ----

namespace {

// A folder with an `ffprobe` printing `probe_json` and an `ffmpeg` running `ffmpeg_script` (sh).
std::string fake_ffmpeg(const TempDir& dir, const std::string& name, const std::string& probe_json,
                        const std::string& ffmpeg_script) {
    const fs::path bin = dir.path / name;
    fs::create_directory(bin);
    std::ofstream(bin / "ffprobe") << "#!/bin/sh\ncat <<'EOF'\n" << probe_json << "\nEOF\n";
    std::ofstream(bin / "ffmpeg") << "#!/bin/sh\n" << ffmpeg_script << "\n";
    fs::permissions(bin / "ffprobe", fs::perms::owner_all);
    fs::permissions(bin / "ffmpeg", fs::perms::owner_all);
    return bin.string();
}

const char* const kProbe2x1 =
    R"({"streams":[{"width":2,"height":1,"r_frame_rate":"25/1","avg_frame_rate":"0/0","nb_read_packets":"3"}]})";

}  // namespace

TEST_CASE("the decoder's PPM frames are parsed with comments and any whitespace", "[video_frames]") {
    TempDir dir;
    std::ofstream(dir / "v.mp4") << "stand-in";
    const std::string bin = fake_ffmpeg(dir, "bin", kProbe2x1,
                                        "printf 'P6\\n# a comment\\n2 1\\n255\\n\\000\\177\\377\\001\\002\\003'\n"
                                        "printf 'P6 2\\t#x\\n 1\\r255 \\010\\020\\030\\040\\050\\060'\n"
                                        "printf 'P6\\n2 1\\n15\\n\\017\\000\\017\\000\\017\\000'");
    EnvGuard path("PATH", bin + ":/usr/bin:/bin");
    auto src = FrameSource::open(dir / "v.mp4");
    CHECK(src->width() == 2);
    CHECK(src->height() == 1);
    CHECK(src->frame_count() == 3);
    CHECK(src->fps() == Approx(25));  // r_frame_rate where the average is unknown
    Image f;
    REQUIRE(src->next(f));
    CHECK(f.rgb == std::vector<float>{0.f, 127 / 255.f, 1.f, 1 / 255.f, 2 / 255.f, 3 / 255.f});
    REQUIRE(src->next(f));
    CHECK(f.rgb == std::vector<float>{8 / 255.f, 16 / 255.f, 24 / 255.f, 32 / 255.f, 40 / 255.f, 48 / 255.f});
    REQUIRE(src->next(f));
    CHECK(f.rgb == std::vector<float>{1.f, 0.f, 1.f, 0.f, 1.f, 0.f});  // maxval 15
    CHECK_FALSE(src->next(f));
}

TEST_CASE("a decoded frame of another size, a failing decoder and a short frame are errors", "[video_frames]") {
    TempDir dir;
    std::ofstream(dir / "v.mp4") << "stand-in";
    const std::string resized = fake_ffmpeg(dir, "resized", kProbe2x1,
                                            "printf 'P6 2 1 255\\n123456'; printf 'P6 3 1 255\\n123456789'");
    const std::string failing = fake_ffmpeg(dir, "failing", kProbe2x1,
                                            "printf 'P6 2 1 255\\n123456'; echo 'decoder: broken packet' >&2; exit 1");
    const std::string short_frame = fake_ffmpeg(dir, "short", kProbe2x1, "printf 'P6 2 1 255\\n1234'");
    const std::string not_ppm = fake_ffmpeg(dir, "notppm", kProbe2x1, "printf 'hello'");
    const std::string no_video = fake_ffmpeg(dir, "novideo", R"({"streams":[]})", "exit 0");
    const std::string probe_fails = fake_ffmpeg(dir, "probefails", "", "exit 0");
    std::ofstream(probe_fails + "/ffprobe", std::ios::trunc) << "#!/bin/sh\necho 'v.mp4: Invalid data' >&2\necho more >&2\nexit 1\n";
    const auto second_frame_error = [&](const std::string& bin) {
        EnvGuard path("PATH", bin + ":/usr/bin:/bin");
        auto src = FrameSource::open(dir / "v.mp4");
        Image f;
        REQUIRE(src->next(f));
        return error_of([&] { src->next(f); });
    };
    const std::string where = "--content-video " + dir / "v.mp4" + ": ";
    CHECK_THAT(second_frame_error(resized), Catch::Contains(where + "frame 2 is 3x1, but the video is 2x1"));
    CHECK_THAT(second_frame_error(failing), Catch::Contains(where + "ffmpeg failed decoding after 1 frames (exit status 1): decoder: broken packet"));
    {
        EnvGuard path("PATH", short_frame + ":/usr/bin:/bin");
        auto src = FrameSource::open(dir / "v.mp4");
        Image f;
        CHECK_THAT(error_of([&] { src->next(f); }), Catch::Contains(where + "the decoder's output ended inside frame 1"));
    }
    {
        EnvGuard path("PATH", not_ppm + ":/usr/bin:/bin");
        auto src = FrameSource::open(dir / "v.mp4");
        Image f;
        CHECK_THAT(error_of([&] { src->next(f); }), Catch::Contains(where + "frame 1 from ffmpeg is not a PPM"));
    }
    {
        EnvGuard path("PATH", no_video + ":/usr/bin:/bin");
        CHECK_THAT(error_of([&] { FrameSource::open(dir / "v.mp4"); }), Catch::Contains(where + "no frames"));
    }
    {
        EnvGuard path("PATH", probe_fails + ":/usr/bin:/bin");
        CHECK(error_of([&] { FrameSource::open(dir / "v.mp4"); }) == where + "not a video ffmpeg can read: v.mp4: Invalid data");
    }
}

// ---- without the ffmpeg program ----

TEST_CASE("without ffmpeg on $PATH, a video and encode_video say how to get it", "[video_frames]") {
    TempDir dir;
    fs::create_directory(dir.path / "empty_bin");
    std::ofstream(dir / "clip.mp4") << "anything";
    fs::create_directory(dir.path / "frames");
    save_image(solid(4, 4, 0), dir / ("frames/" + frame_file_name(0)));
    std::string open_msg, encode_msg;
    {
        EnvGuard path("PATH", dir / "empty_bin");
        open_msg = error_of([&] { FrameSource::open(dir / "clip.mp4"); });
        encode_msg = error_of([&] { encode_video(dir / "frames", 1, 10, dir / "out.mp4"); });
        auto folder = FrameSource::open(dir / "frames");  // a folder needs no ffmpeg
        CHECK(folder->frame_count() == 1);
    }
    CHECK_THAT(open_msg, Catch::Contains("--content-video " + dir / "clip.mp4"));
    CHECK_THAT(open_msg, Catch::Contains("ffmpeg"));
    CHECK_THAT(open_msg, Catch::Contains("apt-get install ffmpeg"));
    CHECK_THAT(open_msg, Catch::Contains("folder of numbered images"));
    CHECK_THAT(encode_msg, Catch::Contains("--output-video " + dir / "out.mp4"));
    CHECK_THAT(encode_msg, Catch::Contains("apt-get install ffmpeg"));
    CHECK_THAT(encode_msg, Catch::Contains("--output-frames"));
    CHECK_FALSE(fs::exists(dir / "out.mp4"));
    CHECK(!find_program("sh").empty());  // PATH is back
}

// ---- encode_video ----

TEST_CASE("encode_video writes an H.264 video of odd-sized frames, padded to even by repeating the edge",
          "[video_frames]") {
    NEED_FFMPEG();
    TempDir dir;
    fs::create_directory(dir.path / "frames");
    for (int i = 0; i < 5; ++i) save_image(pattern(95, 63, i), dir / ("frames/" + frame_file_name(i)));
    save_image(pattern(95, 63, 9), dir / ("frames/" + frame_file_name(5)));  // beyond frame_count: left out
    const std::string out = dir / "out video.mp4";
    std::ofstream(out) << "an older file";  // replaced on success
    encode_video(dir / "frames", 5, 12, out);
    CHECK(names_in(dir.path) == std::vector<std::string>{"frames", "out video.mp4"});  // no temporary left
    auto src = FrameSource::open(out);
    CHECK(src->frame_count() == 5);
    CHECK(src->width() == 96);
    CHECK(src->height() == 64);
    CHECK(src->fps() == Approx(12));
    Image frame;
    int n = 0;
    while (src->next(frame)) {
        ++n;
        // The added row and column repeat their neighbours (a black edge would average about 0).
        const auto mean_row = [&](int y) {
            double sum = 0;
            for (int x = 0; x < 95; ++x)
                for (int c = 0; c < 3; ++c) sum += frame.rgb[(size_t(y) * 96 + x) * 3 + c];
            return sum / (95 * 3);
        };
        const auto mean_col = [&](int x) {
            double sum = 0;
            for (int y = 0; y < 63; ++y)
                for (int c = 0; c < 3; ++c) sum += frame.rgb[(size_t(y) * 96 + x) * 3 + c];
            return sum / (63 * 3);
        };
        INFO("frame " << n << ": row 63 " << mean_row(63) << ", row 62 " << mean_row(62) << "; column 95 "
                      << mean_col(95) << ", column 94 " << mean_col(94));
        CHECK(mean_row(62) > 0.2);
        CHECK(std::abs(mean_row(63) - mean_row(62)) < 0.05);
        CHECK(mean_col(94) > 0.2);
        CHECK(std::abs(mean_col(95) - mean_col(94)) < 0.05);
    }
    CHECK(n == 5);

    const std::string gif = dir / "out.gif";  // another container: ffmpeg's choice of codec, size kept
    encode_video(dir / "frames", 5, 12, gif);
    auto g = FrameSource::open(gif);
    CHECK(g->frame_count() == 5);
    CHECK(g->width() == 95);
    CHECK(g->height() == 63);
}

TEST_CASE("encode_video refuses bad requests naming the flag and keeps an old output on failure",
          "[video_frames]") {
    NEED_FFMPEG();
    TempDir dir;
    const std::string frames = dir / "frames%d";  // a '%' in the folder's name is not an ffmpeg pattern
    fs::create_directory(frames);
    for (int i = 0; i < 2; ++i) save_image(pattern(8, 6, i), frames + "/" + frame_file_name(i));

    const std::string no_folder = dir / "missing/out.mp4";
    CHECK_THAT(error_of([&] { encode_video(frames, 2, 10, no_folder); }),
               Catch::Contains("--output-video " + no_folder + ": the folder"));
    CHECK_THAT(error_of([&] { encode_video(frames, 2, 0, dir / "o.mp4"); }), Catch::Contains("--fps 0"));
    CHECK_THAT(error_of([&] { encode_video(frames, 2, -1, dir / "o.mp4"); }), Catch::Contains("--fps"));
    CHECK_THAT(error_of([&] { encode_video(frames, 3, 10, dir / "o.mp4"); }),
               Catch::Contains("--output-video " + dir / "o.mp4" + ": frame ") && Catch::Contains("frame_00003.png"));
    CHECK_THAT(error_of([&] { encode_video(frames, 2, 10, dir / "noext"); }), Catch::Contains("--output-video"));

    const std::string old = dir / "old.xyz";  // an extension ffmpeg has no format for: it fails
    std::ofstream(old) << "keep me";
    const std::string msg = error_of([&] { encode_video(frames, 2, 10, old); });
    CHECK_THAT(msg, Catch::Contains("--output-video " + old + ": ffmpeg could not encode"));
    CHECK(read_text(old) == "keep me");
    CHECK(names_in(dir.path) == std::vector<std::string>{"frames%d", "old.xyz"});  // no temporary left

    encode_video(frames, 2, 10, dir / "ok.mkv");
    auto src = FrameSource::open(dir / "ok.mkv");
    CHECK(src->frame_count() == 2);
    CHECK(src->width() == 8);
}
