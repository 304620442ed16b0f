// Instance-norm statistics given from outside a forward pass: the mechanism behind tiled feed-forward
// stylization (stylize/tiled_style_network.h), whose tiles must be normalised with the WHOLE picture's
// per-(sample, channel) mean and variance, not their own.
//
// Contract. While a NormStatsPlan is alive (RAII; one per thread, not nested), every instance_norm call
// on this thread (conditional_instance_norm included) is numbered k = 0, 1, ... in call order, and
//  - k < fixed.size(): x is normalised with fixed[k]'s mean and invstd (one per (n, c) plane, n-major)
//    instead of its own statistics; the affine (weight, bias) is applied as usual. Not differentiable
//    through the statistics (the plan is for inference; autograd still records the op's x gradient as if
//    the statistics were x's own).
//  - k == fixed.size() and collect is set: Σx and Σx² (double) per plane over x's window that corresponds
//    to `window` of the tile input (of size input_h x input_w; x's size relative to it gives the scale,
//    which must map the window onto whole pixels) are ADDED into collect->sum/sumsq, and the op throws
//    NormStatsPlan::Stop: nothing after norm k is needed for its statistics. Stop is no nst::Error.
//  - any other call is an nst::Error (the pass has more norms than the plan knows).
// count() is the number of norms seen so far (after a pass that ran to its end: the network's K).
#pragma once
#include <cstdint>
#include <vector>

namespace nst {

struct NormStats {
    std::vector<double> mean, invstd;  // one per (n, c) plane
};

struct NormSums {
    std::vector<double> sum, sumsq;  // one per (n, c) plane; sized by the first collecting call
    double count = 0;                // values per plane added so far
    double eps = 1e-5;               // the norm's epsilon, as its call gave it
};

class NormStatsPlan {
  public:
    struct Stop {};  // thrown by norm `fixed.size()` after it collected; caught by whoever installed the plan
    struct Window {
        int64_t input_h = 0, input_w = 0;  // the tile input's size
        int64_t y0 = 0, x0 = 0, h = 0, w = 0;  // the interior, in the tile input's pixels
    };

    NormStatsPlan(const std::vector<NormStats>* fixed, NormSums* collect, Window window);
    ~NormStatsPlan();
    NormStatsPlan(const NormStatsPlan&) = delete;
    NormStatsPlan& operator=(const NormStatsPlan&) = delete;

    static NormStatsPlan* current();  // this thread's plan, or null
    int count() const { return next_; }

    // For instance_norm (core/ops/feedforward.cpp): the next call's number.
    int take() { return next_++; }
    const std::vector<NormStats>& fixed() const { return *fixed_; }
    NormSums* collect() const { return collect_; }
    const Window& window() const { return window_; }

  private:
    const std::vector<NormStats>* fixed_;
    NormSums* collect_;
    Window window_;
    int next_ = 0;
};

}  // namespace nst
