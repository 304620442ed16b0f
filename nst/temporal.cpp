// The temporal term and the objective that adds it (contract in temporal.h).
#include "nst/temporal.h"

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"

namespace nst {

TemporalTarget make_temporal_target(const VGG19& net, const Tensor& warped_rgb, const std::vector<float>& mask,
                                    Device device) {
    const Shape& s = warped_rgb.shape();
    if (s.size() != 4 || s[0] != 1 || s[1] != 3 || int64_t(mask.size()) != s[2] * s[3])
        throw Error("internal: the temporal mask has " + std::to_string(mask.size()) + " values for a " +
                    std::to_string(s.size() == 4 ? s[3] : 0) + "x" + std::to_string(s.size() == 4 ? s[2] : 0) + " frame");
    TemporalTarget t;
    // √c for each channel: mul() is elementwise, without broadcasting, and Σ (√c·(x − ω))² = Σ c (x − ω)²
    // for any weight in 0..1 (Ruder's masks are 0 or 1; a soft mask would work as well).
    std::vector<float> three;
    three.reserve(mask.size() * 3);
    for (float c : mask) {
        if (!(c >= 0.0f && c <= 1.0f)) throw Error("internal: a temporal mask value outside 0..1");
        t.reliable += c;
    }
    for (int ch = 0; ch < 3; ++ch)
        for (float c : mask) three.push_back(std::sqrt(c));
    t.mask = Tensor::from_vector(three, s).to(device);
    t.warped = net.preprocess(warped_rgb).to(device);
    return t;
}

Tensor temporal_loss(const Tensor& x, const TemporalTarget& t) {
    if (x.shape() != t.warped.shape())
        throw Error("internal: temporal_loss on an image of another size than its target");
    const Tensor masked = mul(sub(x, t.warped), t.mask);
    return scale(sum_squares(masked), t.reliable > 0 ? 1.0 / (3.0 * t.reliable) : 0.0);
}

Tensor TemporalObjective::evaluate(const Tensor& x_in, Tensor& g) {
    Tensor total = base_.evaluate(x_in, g);
    last_ = base_.last();
    if (!has_target_ || weight_ == 0) return total;
    const double s = base_.weight_scale();
    Tensor x = x_in.detach().requires_grad_();
    const Tensor t = scale(temporal_loss(x, target_), weight_ * s * s);
    t.backward();
    NoGradGuard ng;
    add_into(g, x.grad().reshape(g.shape()));
    last_.temporal = t.detach();
    last_.total = add(total, last_.temporal);
    return last_.total;
}

}  // namespace nst
