// stylize --cuda-graph (contract in graphed_evaluation.h).
#include "nst/graphed_evaluation.h"

#include <ostream>

namespace nst {

Tensor GraphedEvaluation::operator()(Objective& obj, const Tensor& x, Tensor& g) {
    if (!enabled_) return obj.evaluate(x, g);
    if (graph_.captured() && x.data<float>() == x_ptr_ && g.data<float>() == g_ptr_) {
        graph_.replay();
        return loss_.clone();
    }
    if (++eager_ <= 2 || graph_.captured()) return obj.evaluate(x, g);
    try {
        graph_.capture([&] { loss_ = obj.evaluate(x, g); });
    } catch (const Error& e) {
        log_ << "CUDA graph: capture failed, evaluating eagerly (" << e.what() << ")" << std::endl;
        enabled_ = false;
        return obj.evaluate(x, g);
    }
    x_ptr_ = x.data<float>();
    g_ptr_ = g.data<float>();
    graph_.replay();
    return loss_.clone();
}

}  // namespace nst
