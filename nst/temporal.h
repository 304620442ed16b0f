// Ruder, Dosovitskiy and Brox's short-term temporal term (docs/nst.md, "Video"): frame t is tied to the
// previous stylized frame warped into its geometry, wherever the optical flow is reliable,
//   temporal(x) = w_t · Σ_p c(p) Σ_ch (x − ω)² / (3 Σ_p c(p))      (the mean over reliable pixels)
// with ω the warped previous output and c ∈ {0, 1} the reliability mask (media/optical_flow.h), both in
// the network's input space. It is built from ops that have CPU and CUDA kernels (sub, mul, sum_squares,
// scale), so it runs on the objective's device and its gradient 2 w_t c (x − ω)/(3 Σc) comes from autograd.
#pragma once
#include <memory>
#include <vector>

#include "nst/objective.h"

namespace nst {

// The term's input: where it pulls the image, and where it may (mask 1) or may not (mask 0).
struct TemporalTarget {
    Tensor warped;        // (1,3,H,W), in the network's input space, on the objective's device
    Tensor mask;          // (1,3,H,W) √c(p) repeated over the channels, same device
    double reliable = 0;  // Σ_p c(p) over the H×W pixels
};

// A target from an RGB 0..1 image already warped (nst::warp) and an H×W mask, for `net`'s input space.
TemporalTarget make_temporal_target(const VGG19& net, const Tensor& warped_rgb, const std::vector<float>& mask,
                                    Device device);

// Σ c (x − ω)² / (3 Σ c), unweighted, as a scalar; differentiable in x (and in ω). Zero when Σ c = 0.
Tensor temporal_loss(const Tensor& x, const TemporalTarget& t);

// An objective plus the temporal term, weighted by w_t times the square of the base's weight_scale()
// (like the content term: both compare images in the same space). With no target set, it is the base.
class TemporalObjective : public Objective {
  public:
    TemporalObjective(Objective& base, double temporal_weight) : base_(base), weight_(temporal_weight) {}
    void set_target(TemporalTarget t) { target_ = std::move(t); has_target_ = true; }
    void clear_target() { has_target_ = false; }

    Tensor evaluate(const Tensor& x, Tensor& g) override;
    const LossTerms& last() const override { return last_; }
    double weight_scale() const override { return base_.weight_scale(); }
    const VGG19& net() const override { return base_.net(); }

  private:
    Objective& base_;
    double weight_;
    TemporalTarget target_;
    bool has_target_ = false;
    LossTerms last_;
};

}  // namespace nst
