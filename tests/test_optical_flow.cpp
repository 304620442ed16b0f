// Optical flow for stylize_video (media/optical_flow.h): DIS and Farnebäck on a known pan of a photo, the
// warp that brings frame t onto frame t+1, Ruder et al.'s reliability mask (frame edges, occlusion behind a
// moving square, inconsistent flows, motion boundaries), exact bilinear warping, the warping error, the
// errors, and bit-identical flows from run to run.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>

#include "base/error.h"
#include "media/image.h"
#include "media/optical_flow.h"
#include "tests/catch.h"
#include "tests/video_clips.h"

using namespace nst;

namespace {

const Image& chelsea() {
    static const Image img = load_image(NST_EXAMPLES_DIR "/chelsea.jpg");
    return img;
}

// A 96x64 window of the photo panned `step` pixels right per frame: its content moves left, so the flow from
// frame t to frame t+1 is (-step, 0) and the backward flow, from t+1 to t, is (+step, 0).
constexpr int kW = 96, kH = 64;
Image pan_frame(int t, int step = 2) { return test::window(chelsea(), 180 + step * t, 110, kW, kH); }

Flow uniform_flow(int w, int h, float dx, float dy) {
    Flow f{w, h, std::vector<float>(size_t(w) * h * 2)};
    for (size_t i = 0; i < size_t(w) * h; ++i) f.uv[i * 2] = dx, f.uv[i * 2 + 1] = dy;
    return f;
}

float& u_at(Flow& f, int x, int y) { return f.uv[(size_t(y) * f.width + x) * 2]; }
float& v_at(Flow& f, int x, int y) { return f.uv[(size_t(y) * f.width + x) * 2 + 1]; }
float px(const Image& img, int x, int y, int c) { return img.rgb[(size_t(y) * img.width + x) * 3 + c]; }

struct FlowStats {
    double mean_dx, mean_dy, mean_epe, median_dx;
};
// Over the interior (a margin of `m` pixels), against the true flow (tx, ty).
FlowStats interior_stats(const Flow& f, float tx, float ty, int m = 8) {
    double sx = 0, sy = 0, se = 0;
    std::vector<float> dxs;
    for (int y = m; y < f.height - m; ++y)
        for (int x = m; x < f.width - m; ++x) {
            const float dx = f.uv[(size_t(y) * f.width + x) * 2], dy = f.uv[(size_t(y) * f.width + x) * 2 + 1];
            sx += dx, sy += dy, se += std::hypot(dx - tx, dy - ty);
            dxs.push_back(dx);
        }
    const double n = double(dxs.size());
    std::nth_element(dxs.begin(), dxs.begin() + dxs.size() / 2, dxs.end());
    return {sx / n, sy / n, se / n, dxs[dxs.size() / 2]};
}

const char* name(FlowMethod m) { return m == FlowMethod::Dis ? "dis" : "farneback"; }

}  // namespace

TEST_CASE("optical_flow: DIS and Farneback find a 2-pixel pan of a photo", "[optical_flow]") {
    const Image f0 = pan_frame(0), f1 = pan_frame(1);
    for (FlowMethod m : {FlowMethod::Dis, FlowMethod::Farneback}) {
        const Flow fwd = compute_flow(f0, f1, m);
        REQUIRE(fwd.width == kW);
        REQUIRE(fwd.height == kH);
        REQUIRE(fwd.uv.size() == size_t(kW) * kH * 2);
        const FlowStats s = interior_stats(fwd, -2.f, 0.f);
        std::cout << "optical_flow: " << name(m) << " on the 2-px pan (truth (-2, 0)): mean (" << s.mean_dx << ", "
                  << s.mean_dy << "), median dx " << s.median_dx << ", mean endpoint error " << s.mean_epe << " px\n";
        CHECK(std::abs(s.mean_dx + 2) < 0.25);
        CHECK(std::abs(s.median_dx + 2) < 0.25);
        CHECK(std::abs(s.mean_dy) < 0.25);
        CHECK(s.mean_epe < 0.25);
        // And the other way round: from t+1 to t, (+2, 0).
        const FlowStats b = interior_stats(compute_flow(f1, f0, m), 2.f, 0.f);
        CHECK(std::abs(b.mean_dx - 2) < 0.25);
        CHECK(b.mean_epe < 0.25);
    }
}

TEST_CASE("optical_flow: frame t warped by the backward flow is frame t+1 on the reliable pixels", "[optical_flow]") {
    const Image f0 = pan_frame(0), f1 = pan_frame(1);
    for (FlowMethod m : {FlowMethod::Dis, FlowMethod::Farneback}) {
        const Flow backward = compute_flow(f1, f0, m);  // t+1 -> t: (+2, 0)
        const Flow forward = compute_flow(f0, f1, m);   // t -> t+1: (-2, 0)
        const std::vector<float> mask = reliable_mask(backward, forward);
        const double err = warping_error(f0, f1, backward, mask);
        const double unwarped = warping_error(f0, f1, uniform_flow(kW, kH, 0, 0), mask);
        std::cout << "optical_flow: " << name(m) << ": warping error of the 2-px pan on reliable pixels " << err
                  << " (frames not warped: " << unwarped << ")\n";
        CHECK(err < 1e-3);
        CHECK(err < unwarped / 10);

        // New content enters at the right: p + w(p) is outside frame t there, so those pixels are unreliable.
        size_t reliable = 0, interior = 0;
        for (int y = 0; y < kH; ++y) {
            INFO("row " << y);
            CHECK(mask[size_t(y) * kW + kW - 1] == 0.f);
            CHECK(mask[size_t(y) * kW + kW - 2] == 0.f);
        }
        for (int y = 4; y < kH - 4; ++y)
            for (int x = 4; x < kW - 4; ++x) ++interior, reliable += mask[size_t(y) * kW + x] == 1.f;
        std::cout << "optical_flow: " << name(m) << ": " << 100.0 * reliable / interior << "% of the interior reliable\n";
        CHECK(reliable > 0.8 * interior);
    }
}

TEST_CASE("optical_flow: the background uncovered behind a moving square is unreliable", "[optical_flow]") {
    // A static photo background; a 24x24 patch of another part of the photo moves `step` px right per frame.
    const Image bg = test::window(chelsea(), 40, 30, kW, kH);
    const Image fg = test::window(chelsea(), 300, 200, 24, 24);
    const int sx = 30, sy = 20;
    auto frame = [&](int x0) {
        Image f = bg;
        for (int y = 0; y < 24; ++y)
            for (int x = 0; x < 24; ++x)
                for (int c = 0; c < 3; ++c) f.rgb[((size_t(sy) + y) * kW + x0 + x) * 3 + c] = px(fg, x, y, c);
        return f;
    };
    // Uncovered in frame t+1: the background at x in [sx, sx+step) of the square's rows.
    auto uncovered_unreliable = [&](const std::vector<float>& mask, int step) {
        size_t zeros = 0, n = 0;
        for (int y = sy; y < sy + 24; ++y)
            for (int x = sx; x < sx + step; ++x) ++n, zeros += mask[size_t(y) * kW + x] == 0.f;
        return double(zeros) / double(n);
    };
    // The still background well left of the square (columns 4..19, rows 4..59).
    auto still_reliable = [&](const std::vector<float>& mask) {
        size_t ones = 0, n = 0;
        for (int y = 4; y < kH - 4; ++y)
            for (int x = 4; x < 20; ++x) ++n, ones += mask[size_t(y) * kW + x] == 1.f;
        return double(ones) / double(n);
    };

    SECTION("with the true flows, all of it") {
        const int step = 4;
        Flow backward = uniform_flow(kW, kH, 0, 0), forward = uniform_flow(kW, kH, 0, 0);
        for (int y = sy; y < sy + 24; ++y)
            for (int x = 0; x < 24; ++x) u_at(backward, sx + step + x, y) = -step, u_at(forward, sx + x, y) = step;
        const std::vector<float> mask = reliable_mask(backward, forward);
        CHECK(uncovered_unreliable(mask, step) == 1.0);
        CHECK(still_reliable(mask) == 1.0);
        CHECK(mask[size_t(sy + 12) * kW + sx + step + 12] == 1.f);  // inside the moving square
    }
    SECTION("with the flows DIS and Farneback compute, most of it") {
        // Both methods spread the square's motion a pixel or more onto the background next to it, in both
        // directions, so pixels there look consistent: the strip is never caught whole. Farneback's flow is
        // smoother: at 4 px per frame it catches about a fifth of the strip, at 8 px four fifths.
        const int step = 8;
        const Image f0 = frame(sx), f1 = frame(sx + step);
        for (FlowMethod m : {FlowMethod::Dis, FlowMethod::Farneback}) {
            const std::vector<float> mask = reliable_mask(compute_flow(f1, f0, m), compute_flow(f0, f1, m));
            const double caught = uncovered_unreliable(mask, step), still = still_reliable(mask);
            std::cout << "optical_flow: " << name(m) << ": square moving " << step << " px: " << 100 * caught
                      << "% of the uncovered background unreliable, " << 100 * still << "% of the still background reliable\n";
            CHECK(caught > 0.7);
            CHECK(still > 0.9);
        }
    }
}

TEST_CASE("optical_flow: reliable_mask on hand-made flows", "[optical_flow]") {
    const int w = 20, h = 12;
    SECTION("a consistent pair is reliable wherever p + w(p) is inside the frame") {
        const std::vector<float> mask = reliable_mask(uniform_flow(w, h, 1.f, 0.5f), uniform_flow(w, h, -1.f, -0.5f));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                INFO("(" << x << ", " << y << ")");
                CHECK(mask[size_t(y) * w + x] == ((x + 1 <= w - 1 && y + 0.5f <= h - 1) ? 1.f : 0.f));
            }
    }
    SECTION("an inconsistent pair is unreliable everywhere") {
        const std::vector<float> mask = reliable_mask(uniform_flow(w, h, 1.f, 0.f), uniform_flow(w, h, 1.f, 0.f));
        CHECK(std::count(mask.begin(), mask.end(), 0.f) == w * h);
    }
    SECTION("the forward-backward threshold: |w + f|² <= 0.01(|w|² + |f|²) + 0.5") {
        // w = (3, 0), f = (-3 + d, 0): |w + f|² = d², the bound 0.01 (9 + (3 - d)²) + 0.5.
        CHECK(reliable_mask(uniform_flow(w, h, 3, 0), uniform_flow(w, h, -3 + 0.78f, 0))[size_t(5) * w + 5] == 1.f);
        CHECK(reliable_mask(uniform_flow(w, h, 3, 0), uniform_flow(w, h, -3 + 0.82f, 0))[size_t(5) * w + 5] == 0.f);
    }
    SECTION("the forward flow is sampled bilinearly at p + w(p)") {
        // w = (0.5, 0): f at p + w is the mean of f at x and x + 1. f alternates -1.5 and +0.5 by column, so the
        // mean is -0.5, and |w + f|² = 0 (reliable) although f at x alone would say |0.5 ± ...|² up to 1.
        Flow forward = uniform_flow(w, h, 0, 0);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) u_at(forward, x, y) = x % 2 ? 0.5f : -1.5f;
        const std::vector<float> mask = reliable_mask(uniform_flow(w, h, 0.5f, 0), forward);
        CHECK(mask[size_t(5) * w + 4] == 1.f);
        CHECK(mask[size_t(5) * w + 5] == 1.f);
    }
    SECTION("a step in the flow is a motion boundary") {
        // Left half still, right half moving up 2 px (consistent forward flow): the two columns at the step
        // have |∇w_y|² = 1 and are unreliable; their neighbours are not.
        Flow backward = uniform_flow(w, h, 0, 0), forward = uniform_flow(w, h, 0, 0);
        for (int y = 0; y < h; ++y)
            for (int x = w / 2; x < w; ++x) v_at(backward, x, y) = -2, v_at(forward, x, y) = 2;
        const std::vector<float> mask = reliable_mask(backward, forward);
        for (int y = 2; y < h; ++y) {
            INFO("row " << y);
            CHECK(mask[size_t(y) * w + w / 2 - 2] == 1.f);
            CHECK(mask[size_t(y) * w + w / 2 - 1] == 0.f);
            CHECK(mask[size_t(y) * w + w / 2] == 0.f);
            CHECK(mask[size_t(y) * w + w / 2 + 1] == 1.f);
        }
    }
    SECTION("the motion-boundary gradient is one-sided at the border and has the 0.002 floor") {
        // w_y = 0.06 in column 0 only. At x = 0 the one-sided difference is 0.06 (0.0036 > 0.002 + 0.01·0.0036):
        // unreliable; at x = 1 the central difference is 0.03 (0.0009): reliable.
        Flow backward = uniform_flow(w, h, 0, 0), forward = uniform_flow(w, h, 0, 0);
        for (int y = 0; y < h; ++y) v_at(backward, 0, y) = 0.06f, v_at(forward, 0, y) = -0.06f;
        const std::vector<float> mask = reliable_mask(backward, forward);
        for (int y = 0; y < h - 1; ++y) {
            INFO("row " << y);
            CHECK(mask[size_t(y) * w] == 0.f);
            CHECK(mask[size_t(y) * w + 1] == 1.f);
        }
        // A gentle ramp (0.04 px per pixel: 0.0016 <= 0.002) is no boundary.
        Flow ramp = uniform_flow(w, h, 0, 0), back = uniform_flow(w, h, 0, 0);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) v_at(ramp, x, y) = 0.04f * x, v_at(back, x, y) = -0.04f * x;
        const std::vector<float> m2 = reliable_mask(ramp, back);
        CHECK(m2[size_t(3) * w + 10] == 1.f);
    }
}

TEST_CASE("optical_flow: warp is exact bilinear sampling with the border clamped", "[optical_flow]") {
    const Image img = test::window(chelsea(), 100, 80, 40, 30);
    SECTION("an integer shift reproduces the shifted image exactly, clamped at the border") {
        const Image out = warp(img, uniform_flow(40, 30, 3, -2));
        for (int y = 0; y < 30; ++y)
            for (int x = 0; x < 40; ++x)
                for (int c = 0; c < 3; ++c) {
                    INFO("(" << x << ", " << y << ") channel " << c);
                    REQUIRE(px(out, x, y, c) == px(img, std::min(x + 3, 39), std::max(y - 2, 0), c));
                }
    }
    SECTION("subpixel shifts match a bilinear value computed by hand") {
        for (auto [dx, dy] : {std::pair{0.25f, 0.5f}, std::pair{0.3f, 0.7f}, std::pair{-1.1f, 2.35f}}) {
            const Image out = warp(img, uniform_flow(40, 30, dx, dy));
            for (auto [x, y] : {std::pair{10, 10}, std::pair{20, 5}, std::pair{33, 21}}) {
                const double sx = x + double(dx), sy = y + double(dy);
                const int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
                const double ax = sx - x0, ay = sy - y0;
                for (int c = 0; c < 3; ++c) {
                    const double v = (1 - ay) * ((1 - ax) * px(img, x0, y0, c) + ax * px(img, x0 + 1, y0, c)) +
                                     ay * ((1 - ax) * px(img, x0, y0 + 1, c) + ax * px(img, x0 + 1, y0 + 1, c));
                    INFO("shift (" << dx << ", " << dy << ") at (" << x << ", " << y << ") channel " << c);
                    CHECK(std::abs(px(out, x, y, c) - v) < 1e-5);
                }
            }
        }
    }
    SECTION("coordinates outside the frame are clamped to its border") {
        Flow f = uniform_flow(40, 30, 0, 0);
        u_at(f, 2, 3) = -5.f;                              // (-3, 3) -> (0, 3)
        u_at(f, 37, 4) = 10.5f, v_at(f, 37, 4) = 0.5f;     // (47.5, 4.5) -> between rows 4 and 5 of column 39
        v_at(f, 6, 1) = -40.f, u_at(f, 6, 1) = 0.5f;       // (6.5, -39) -> between columns 6 and 7 of row 0
        u_at(f, 0, 0) = -0.5f, v_at(f, 0, 0) = -0.5f;      // (-0.5, -0.5) -> (0, 0)
        const Image out = warp(img, f);
        for (int c = 0; c < 3; ++c) {
            CHECK(px(out, 2, 3, c) == px(img, 0, 3, c));
            CHECK(px(out, 37, 4, c) == Approx(0.5 * (px(img, 39, 4, c) + px(img, 39, 5, c))).margin(1e-6));
            CHECK(px(out, 6, 1, c) == Approx(0.5 * (px(img, 6, 0, c) + px(img, 7, 0, c))).margin(1e-6));
            CHECK(px(out, 0, 0, c) == px(img, 0, 0, c));
            CHECK(px(out, 10, 10, c) == px(img, 10, 10, c));  // zero flow: the pixel itself
        }
    }
}

TEST_CASE("optical_flow: warping_error", "[optical_flow]") {
    const Image prev = test::window(chelsea(), 100, 80, 40, 30);
    const Flow flow = uniform_flow(40, 30, 0.3f, -0.6f);
    const Image warped = warp(prev, flow);
    std::vector<float> mask(40 * 30, 1.f);
    CHECK(warping_error(prev, warped, flow, mask) == 0.0);

    Image brighter = warped;
    for (float& v : brighter.rgb) v += 0.1f;
    CHECK(warping_error(prev, brighter, flow, mask) == Approx(0.01).epsilon(1e-4));

    // The mask weighs pixels: an offset of 0.1 on half the pixels with weight 1, none elsewhere with weight 0.5.
    Image half = warped;
    for (int i = 0; i < 40 * 15; ++i)
        for (int c = 0; c < 3; ++c) half.rgb[size_t(i) * 3 + c] += 0.1f;
    for (int i = 40 * 15; i < 40 * 30; ++i) mask[size_t(i)] = 0.5f;
    CHECK(warping_error(prev, half, flow, mask) == Approx(0.01 * 1.0 / 1.5).epsilon(1e-4));

    const std::vector<float> empty(40 * 30, 0.f);
    CHECK(warping_error(prev, brighter, flow, empty) == 0.0);
}

TEST_CASE("optical_flow: size mismatches and a bad --flow name are errors", "[optical_flow]") {
    const Image a = test::window(chelsea(), 0, 0, 40, 30), b = test::window(chelsea(), 0, 0, 41, 30);
    const Flow f = uniform_flow(40, 30, 0, 0), g = uniform_flow(40, 31, 0, 0);
    CHECK_THROWS_AS(compute_flow(a, b, FlowMethod::Dis), Error);
    CHECK_THROWS_AS(compute_flow(a, b, FlowMethod::Farneback), Error);
    CHECK_THROWS_AS(compute_flow(Image{}, Image{}, FlowMethod::Dis), Error);
    CHECK_THROWS_AS(reliable_mask(f, g), Error);
    CHECK_THROWS_AS(reliable_mask(Flow{40, 30, {}}, f), Error);  // uv of the wrong length
    CHECK_THROWS_AS(warp(b, f), Error);
    CHECK_THROWS_AS(warp(a, g), Error);
    const std::vector<float> mask(40 * 30, 1.f), short_mask(40 * 29, 1.f);
    CHECK_THROWS_AS(warping_error(a, b, f, mask), Error);
    CHECK_THROWS_AS(warping_error(b, b, f, std::vector<float>(41 * 30, 1.f)), Error);
    CHECK_THROWS_AS(warping_error(a, a, g, mask), Error);
    CHECK_THROWS_AS(warping_error(a, a, f, short_mask), Error);
    CHECK_THROWS_WITH(compute_flow(a, b, FlowMethod::Dis), Catch::Contains("40x30") && Catch::Contains("41x30"));
    // DIS refuses frames smaller than its 12-px patches: an nst::Error naming the size, not a cv::Exception.
    const Image tiny = test::window(chelsea(), 0, 0, 8, 6);
    CHECK_THROWS_WITH(compute_flow(tiny, tiny, FlowMethod::Dis), Catch::Contains("8x6") && Catch::Contains("OpenCV"));
    CHECK(compute_flow(tiny, tiny, FlowMethod::Farneback).uv.size() == 8 * 6 * 2);

    CHECK(parse_flow_method("dis") == FlowMethod::Dis);
    CHECK(parse_flow_method("farneback") == FlowMethod::Farneback);
    for (const char* bad : {"", "DIS", "lk", "farneback "})
        CHECK_THROWS_WITH(parse_flow_method(bad),
                          Catch::Contains("--flow") && Catch::Contains("'dis'") && Catch::Contains("'farneback'"));
}

TEST_CASE("optical_flow: the same frames give bit-identical flows", "[optical_flow]") {
    const Image f0 = pan_frame(0), f1 = pan_frame(1);
    for (FlowMethod m : {FlowMethod::Dis, FlowMethod::Farneback}) {
        INFO(name(m));
        const Flow a = compute_flow(f0, f1, m), b = compute_flow(f0, f1, m);
        REQUIRE(a.uv.size() == b.uv.size());
        CHECK(std::memcmp(a.uv.data(), b.uv.data(), a.uv.size() * sizeof(float)) == 0);
    }
}
