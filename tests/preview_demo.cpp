// preview_demo (test-only): the live preview without a style transfer, for tests/preview_screenshot.sh
// and the README's screenshot.
//
//   preview_demo [--port P] [--host H] [--iterations N] [--total T] [--seconds S]
//       serves a PreviewServer, publishes N iterations (of T) of made-up loss curves shaped like a
//       stylize run's and a generated colour pattern (an image every 10 iterations, losses every
//       iteration; N = 0 publishes nothing), prints "preview: URL" and serves for S seconds (0: until
//       killed).
//   preview_demo --check-screenshot FILE [--min-colours K]
//       exits 0, printing "screenshot ok", when FILE decodes as an image with at least K (10000) distinct
//       colours. Measured on Chromium 156's 1000x700 screenshots: the page with the image and the curves
//       has about 24000, with the curves but no image 2200, before the first frame 530.
#include <CLI/CLI.hpp>
#include <stb_image.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include "base/error.h"
#include "preview/preview_server.h"

namespace {

// Swirls through a night-sky palette (no input image, so nothing from ../shared ends up in the
// repository); `t` in 0..1 fades it in from grey, as an optimisation's image emerges.
nst::PreviewFrame pattern(int width, int height, double t) {
    static const double palette[][3] = {{18, 30, 70}, {35, 75, 140}, {80, 140, 185}, {225, 205, 110}, {250, 240, 190}};
    nst::PreviewFrame f;
    f.width = width;
    f.height = height;
    f.rgb.resize(size_t(width) * height * 3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const double u = x / 30.0, v = y / 30.0;
            const double swirl = std::sin(u + 1.5 * std::sin(v * 0.9 + std::cos(u * 0.7))) *
                                     std::cos(v * 0.8 - 1.2 * std::sin(u * 0.5)) * 0.5 + 0.5;
            const double p = std::clamp(swirl, 0.0, 1.0) * 3.999;
            const int i = int(p);
            const double light = 0.8 + 0.4 * (x + 0.5 * y) / (width + 0.5 * height);  // and a light from the right
            for (int k = 0; k < 3; ++k) {
                const double c = light * (palette[i][k] + (p - i) * (palette[i + 1][k] - palette[i][k]));
                f.rgb[(size_t(y) * width + x) * 3 + k] = uint8_t(std::clamp(std::lround(128 + t * (c - 128)), 0L, 255L));
            }
        }
    return f;
}

// Loss terms named as stylize names them, with the shapes of a real run: style falls by orders of
// magnitude, content rises from zero as the image leaves the content image, TV grows slowly.
std::vector<std::pair<std::string, double>> losses(int i) {
    const double content = 2e5 * (1 - std::exp(-i / 30.0)) + 1e3;
    const double s1 = 4e6 * std::exp(-i / 20.0) + 3e3, s2 = 2e7 * std::exp(-i / 35.0) + 2e4,
                 s3 = 8e6 * std::exp(-i / 50.0) + 6e4, tv = 400 * (1 + i / 60.0);
    return {{"content relu4_2", content}, {"style relu1_1", s1}, {"style relu2_1", s2},
            {"style relu3_1", s3},         {"tv", tv},            {"total", content + s1 + s2 + s3 + tv}};
}

// Iterations 0..iterations (none when it is 0), as a run would publish them.
void publish_run(nst::PreviewServer& server, int iterations, int total) {
    for (int i = 0; iterations > 0 && i <= iterations; ++i) {
        nst::PreviewFrame f;
        if (i % 10 == 0 || i == iterations) f = pattern(384, 288, double(i) / iterations);
        f.iteration = i;
        f.total = total;
        f.terms = losses(i);
        server.publish(std::move(f));
    }
}

int serve(const std::string& host, int port, int iterations, int total, int seconds) {
    nst::PreviewServer server(host, port);
    publish_run(server, iterations, total);
    std::printf("preview: %s\n", server.url().c_str());
    std::fflush(stdout);
    for (int s = 0; seconds == 0 || s < seconds; ++s) std::this_thread::sleep_for(std::chrono::seconds(1));
    return 0;
}

int check_screenshot(const std::string& path, int min_colours) {
    int w = 0, h = 0, n = 0;
    std::unique_ptr<unsigned char, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &n, 3), stbi_image_free);
    if (!px) {
        std::printf("FAIL: %s: %s\n", path.c_str(), stbi_failure_reason());
        return 1;
    }
    std::set<uint32_t> colours;
    for (size_t i = 0; i < size_t(w) * h; ++i) {
        const unsigned char* p = px.get() + i * 3;
        colours.insert(uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]);
    }
    const bool ok = int(colours.size()) >= min_colours;
    std::printf("%s: %s: %dx%d, %zu distinct colours (at least %d wanted)\n", ok ? "screenshot ok" : "FAIL",
                path.c_str(), w, h, colours.size(), min_colours);
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Serves the live preview with made-up data, or checks a screenshot of it"};
    std::string host = "127.0.0.1", screenshot;
    int port = 0, iterations = 180, total = 500, seconds = 0, min_colours = 10000;
    app.add_option("--host", host, "address to bind");
    app.add_option("--port", port, "port (0: any free one)")->check(CLI::Range(0, 65535));
    app.add_option("--iterations", iterations, "iterations published (0: none, the page before a run's first)")
        ->check(CLI::Range(0, 100000));
    app.add_option("--total", total, "the run's pretended length")->check(CLI::Range(1, 100000));
    app.add_option("--seconds", seconds, "how long to serve (0: until killed)")->check(CLI::NonNegativeNumber);
    app.add_option("--check-screenshot", screenshot, "check this PNG instead of serving");
    app.add_option("--min-colours", min_colours, "distinct colours a non-blank screenshot has")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    try {
        return screenshot.empty() ? serve(host, port, iterations, total, seconds)
                                  : check_screenshot(screenshot, min_colours);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "preview_demo: error: %s\n", e.what());
        return 1;
    }
}
