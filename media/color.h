// Colour handling for style transfer (Gatys et al. 2017, "Controlling Perceptual Factors in Neural
// Style Transfer"): images here are (1,3,H,W) float32 RGB in 0..1 on the CPU.
//  - luminance transfer: keep the output's luminance Y and the content's chrominance (I, Q) — what
//    neural-style calls --original-colors;
//  - histogram matching: an affine map of the style image's colours so their mean and covariance equal
//    the content image's (x' = A (x − μs) + μc with A = Σc^½ Σs^−½, symmetric square roots).
#pragma once
#include "core/tensor.h"

namespace nst {

Tensor rgb_to_yiq(const Tensor& rgb);
Tensor yiq_to_rgb(const Tensor& yiq);
// Output's Y with the content's I and Q (the images must have the same size).
Tensor original_colors(const Tensor& output, const Tensor& content);
// The style image recoloured to the content image's colour mean and covariance.
Tensor match_color_histogram(const Tensor& style, const Tensor& content);
// Luminance as a grey RGB image, and the luminance of `style` matched to the mean and std of `content`'s.
Tensor luminance_image(const Tensor& rgb);
Tensor match_luminance(const Tensor& style_grey, const Tensor& content_grey);

}  // namespace nst
