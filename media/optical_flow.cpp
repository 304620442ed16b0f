// Optical flow for stylize_video (Ruder, Dosovitskiy and Brox 2016, "Artistic style transfer for videos"):
// dense flow from OpenCV (DIS or Farnebäck) on 8-bit luminance, Ruder et al.'s reliability mask (their
// consistencyChecker: out of frame, forward-backward disagreement, motion boundaries), bilinear warping and
// the warping error. Only the flow itself comes from OpenCV; the mask and the warp are the paper's formulas
// written out, so that they are exact (cv::remap would quantize the sampling positions to 1/32 pixel).
#include "media/optical_flow.h"

#include <algorithm>
#include <cmath>
#include <mutex>

// OpenCV 4.6's headers mix enumeration types in arithmetic, which C++20 deprecates (a warning per use).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>
#pragma GCC diagnostic pop

#include "base/error.h"

namespace nst {

namespace {

std::string size_of(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

void check_image(const Image& img, const char* what) {
    if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width) * img.height * 3)
        throw Error(std::string("optical flow: ") + what + " is not a " + size_of(img.width, img.height) + " RGB image");
}

void check_flow(const Flow& f, const char* what) {
    if (f.width <= 0 || f.height <= 0 || f.uv.size() != size_t(f.width) * f.height * 2)
        throw Error(std::string("optical flow: ") + what + " is not a " + size_of(f.width, f.height) + " flow field");
}

void check_same_size(int w1, int h1, const char* a, int w2, int h2, const char* b) {
    if (w1 != w2 || h1 != h2)
        throw Error(std::string("optical flow: ") + a + " is " + size_of(w1, h1) + " but " + b + " is " +
                    size_of(w2, h2) + "; they must be the same size");
}

// Rec. 601 luma of RGB 0..1, rounded to 8 bits: what both OpenCV methods take.
cv::Mat luminance8(const Image& img) {
    cv::Mat out(img.height, img.width, CV_8UC1);
    for (int y = 0; y < img.height; ++y) {
        auto* row = out.ptr<uint8_t>(y);
        for (int x = 0; x < img.width; ++x) {
            const float* p = &img.rgb[(size_t(y) * img.width + x) * 3];
            const float l = 255.f * (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]);
            row[x] = uint8_t(std::clamp(std::lround(l), 0L, 255L));
        }
    }
    return out;
}

// The project compares runs bit for bit (a resumed video against an uninterrupted one), so a flow must not
// depend on the thread count or on scheduling. OpenCV 4.6 gives that already: DIS runs its inverse search
// with spatial propagation in a fixed 8 stripes "to make [it] reproducible", densification is per row and
// the variational refinement is red-black, so stripes never read each other's results. Measured (a 160x120
// texture, outside the tests): DIS and Farnebäck flows bit-identical at 1, 4 and 16 threads. Other OpenCV builds
// and versions may differ (DIS splits into getNumThreads() stripes elsewhere), so OpenCV is also pinned to
// one thread, once, before the first flow; that costs little next to a stylized frame (DIS at 1280x720 took
// 0.7 s on one core) and means OpenCV's TBB worker threads are never started. It is process-wide; nothing
// else in the project uses OpenCV.
void single_threaded_opencv() {
    static std::once_flag once;
    std::call_once(once, [] { cv::setNumThreads(1); });
}

// Bilinear sample of channel c of an interleaved nc-channel field at (x, y), clamped to the border.
float bilinear(const float* data, int w, int h, int nc, int c, float x, float y) {
    x = std::clamp(x, 0.f, float(w - 1));
    y = std::clamp(y, 0.f, float(h - 1));
    const int x0 = std::min(int(x), w - 1), y0 = std::min(int(y), h - 1);
    const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
    const float ax = x - float(x0), ay = y - float(y0);
    auto at = [&](int xi, int yi) { return data[(size_t(yi) * w + xi) * nc + c]; };
    const float top = (1 - ax) * at(x0, y0) + ax * at(x1, y0);
    const float bottom = (1 - ax) * at(x0, y1) + ax * at(x1, y1);
    return (1 - ay) * top + ay * bottom;
}

// d/dx and d/dy of flow component c at (x, y): central differences, one-sided at the border, 0 across a
// dimension of one pixel.
float derivative(const Flow& f, int c, int x, int y, bool along_x) {
    const int n = along_x ? f.width : f.height, i = along_x ? x : y;
    if (n == 1) return 0.f;
    const int lo = std::max(i - 1, 0), hi = std::min(i + 1, n - 1);
    auto at = [&](int k) {
        return along_x ? f.uv[(size_t(y) * f.width + k) * 2 + c] : f.uv[(size_t(k) * f.width + x) * 2 + c];
    };
    return (at(hi) - at(lo)) / float(hi - lo);
}

}  // namespace

FlowMethod parse_flow_method(const std::string& name) {
    if (name == "dis") return FlowMethod::Dis;
    if (name == "farneback") return FlowMethod::Farneback;
    throw Error("--flow must be 'dis' or 'farneback', not '" + name + "'");
}

Flow compute_flow(const Image& from, const Image& to, FlowMethod method) {
    check_image(from, "the first frame");
    check_image(to, "the second frame");
    check_same_size(from.width, from.height, "the first frame", to.width, to.height, "the second frame");
    single_threaded_opencv();
    const cv::Mat a = luminance8(from), b = luminance8(to);
    cv::Mat flow;  // CV_32FC2: (dx, dy) per pixel, from(p) ≈ to(p + flow(p)) for both methods
    try {
        if (method == FlowMethod::Dis) {
            // PRESET_MEDIUM stops at scale 1 (half resolution) and upsamples. Scale 0 is markedly better on
            // small frames (measured on the 96x64 scenes of tests/test_optical_flow.cpp): endpoint error on a
            // 2-px pan 0.00006 px instead of 0.008, and 82% instead of 72% (94% instead of 38% at 2 px) of the
            // background uncovered behind a square moving 4 px per frame found unreliable. It costs 5x the
            // time: 0.7 s instead of 0.13 s at 1280x720 on one core, small next to stylizing the frame.
            auto dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
            dis->setFinestScale(0);
            dis->calc(a, b, flow);
        } else {
            cv::calcOpticalFlowFarneback(a, b, flow, /*pyr_scale*/ 0.5, /*levels*/ 3, /*winsize*/ 15,
                                         /*iterations*/ 3, /*poly_n*/ 5, /*poly_sigma*/ 1.2, /*flags*/ 0);
        }
    } catch (const cv::Exception& e) {
        throw Error("optical flow on " + size_of(from.width, from.height) + " frames failed in OpenCV: " + e.what());
    }
    Flow out{from.width, from.height, std::vector<float>(size_t(from.width) * from.height * 2)};
    for (int y = 0; y < out.height; ++y)
        std::copy_n(flow.ptr<float>(y), size_t(out.width) * 2, &out.uv[size_t(y) * out.width * 2]);
    return out;
}

std::vector<float> reliable_mask(const Flow& backward, const Flow& forward) {
    check_flow(backward, "the backward flow");
    check_flow(forward, "the forward flow");
    check_same_size(backward.width, backward.height, "the backward flow", forward.width, forward.height, "the forward flow");
    const int w = backward.width, h = backward.height;
    std::vector<float> mask(size_t(w) * h, 0.f);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const size_t i = size_t(y) * w + x;
            const float wx = backward.uv[i * 2], wy = backward.uv[i * 2 + 1];
            // (a) p + w(p) must land inside frame t-1, else it is content that entered the frame.
            if (!lands_inside(backward, x, y)) continue;
            const float px = float(x) + wx, py = float(y) + wy;
            // (b) going back and forth again must return to p (else p is occluded in frame t-1).
            const float fx = bilinear(forward.uv.data(), w, h, 2, 0, px, py);
            const float fy = bilinear(forward.uv.data(), w, h, 2, 1, px, py);
            const float sum2 = (wx + fx) * (wx + fx) + (wy + fy) * (wy + fy);
            const float w2 = wx * wx + wy * wy, f2 = fx * fx + fy * fy;
            if (sum2 > 0.01f * (w2 + f2) + 0.5f) continue;
            // (c) the flow must be smooth at p: at motion boundaries it is unreliable.
            float grad2 = 0.f;
            for (int c = 0; c < 2; ++c)
                for (bool along_x : {true, false}) {
                    const float d = derivative(backward, c, x, y, along_x);
                    grad2 += d * d;
                }
            if (grad2 > 0.01f * w2 + 0.002f) continue;
            mask[i] = 1.f;
        }
    return mask;
}

Image warp(const Image& prev, const Flow& backward) {
    check_image(prev, "the frame to warp");
    check_flow(backward, "the backward flow");
    check_same_size(prev.width, prev.height, "the frame to warp", backward.width, backward.height, "the backward flow");
    const int w = prev.width, h = prev.height;
    Image out{w, h, std::vector<float>(prev.rgb.size())};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const size_t i = size_t(y) * w + x;
            const float sx = float(x) + backward.uv[i * 2], sy = float(y) + backward.uv[i * 2 + 1];
            for (int c = 0; c < 3; ++c) out.rgb[i * 3 + c] = bilinear(prev.rgb.data(), w, h, 3, c, sx, sy);
        }
    return out;
}

double warping_error(const Image& prev, const Image& cur, const Flow& backward, const std::vector<float>& mask) {
    check_image(cur, "the current frame");
    check_same_size(prev.width, prev.height, "the previous frame", cur.width, cur.height, "the current frame");
    if (mask.size() != size_t(cur.width) * cur.height)
        throw Error("optical flow: the mask has " + std::to_string(mask.size()) + " values for a " +
                    size_of(cur.width, cur.height) + " frame");
    const Image warped = warp(prev, backward);  // checks prev and the flow's size
    double num = 0, den = 0;
    for (size_t i = 0; i < mask.size(); ++i) {
        if (mask[i] == 0.f) continue;
        double d2 = 0;
        for (int c = 0; c < 3; ++c) {
            const double d = double(cur.rgb[i * 3 + c]) - double(warped.rgb[i * 3 + c]);
            d2 += d * d;
        }
        num += double(mask[i]) * d2;
        den += double(mask[i]);
    }
    return den == 0 ? 0.0 : num / (3 * den);
}

}  // namespace nst
