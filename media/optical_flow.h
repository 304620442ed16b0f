// Optical flow for stylize_video (Ruder, Dosovitskiy and Brox 2016): dense flow from OpenCV (DIS or
// Farnebäck), the reliability mask from forward-backward consistency and motion boundaries, bilinear
// warping of the previous stylized frame, and the warping error that measures temporal consistency.
// Frames are nst::Image (RGB 0..1); flows and masks are at the frames' size.
#pragma once
#include <string>
#include <vector>

#include "media/image.h"

namespace nst {

// A dense displacement field over a width x height frame: the point at pixel (x, y) of the frame the flow
// was computed for is at (x + dx, y + dy) in the other frame. uv holds (dx, dy) per pixel, row-major.
struct Flow {
    int width = 0, height = 0;
    std::vector<float> uv;  // height * width * 2
};

enum class FlowMethod { Dis, Farneback };
// "dis" | "farneback"; anything else is an Error naming --flow.
FlowMethod parse_flow_method(const std::string& name);

// Flow from `from` to `to` (same size; compared as 8-bit luminance): from(p) ≈ to(p + flow(p)).
Flow compute_flow(const Image& from, const Image& to, FlowMethod method);

// Whether pixel (x, y) moved by the flow lands inside the frame (edges included): outside, it is content
// that entered the frame, with nothing to come from.
inline bool lands_inside(const Flow& f, int x, int y) {
    const size_t i = size_t(y) * f.width + x;
    const float px = float(x) + f.uv[i * 2], py = float(y) + f.uv[i * 2 + 1];
    return px >= 0.f && px <= float(f.width - 1) && py >= 0.f && py <= float(f.height - 1);
}

// Ruder et al.'s per-pixel weight for frame t, given backward = flow(t -> t-1) and forward = flow(t-1 -> t):
// 1 where (a) p + backward(p) lies inside frame t-1, (b) the two flows agree, |w + f|² <= 0.01(|w|² + |f|²)
// + 0.5 with w = backward(p) and f = forward(p + w) (bilinear), and (c) p is not on a motion boundary,
// |∇w_x|² + |∇w_y|² <= 0.01|w|² + 0.002; else 0. Size: height * width.
std::vector<float> reliable_mask(const Flow& backward, const Flow& forward);

// prev (frame t-1) brought into frame t's geometry: out(p) = prev(p + backward(p)), bilinear, coordinates
// outside the frame clamped to its border.
Image warp(const Image& prev, const Flow& backward);

// Temporal consistency of two consecutive output frames: Σ_p c(p) |cur(p) − warp(prev, backward)(p)|² /
// (3 Σ_p c(p)) over RGB 0..1, with c = mask. 0 when the mask is empty.
double warping_error(const Image& prev, const Image& cur, const Flow& backward, const std::vector<float>& mask);

}  // namespace nst
