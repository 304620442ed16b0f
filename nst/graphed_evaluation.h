// stylize --cuda-graph: the objective's evaluation replayed as a CUDA graph (core/cuda_graph.h).
//
// Evaluations 1 and 2 run eagerly (caches and library workspaces reach their size), the third is
// captured and every later one replays it, as long as the optimizer passes the same x and g (it updates
// both in place; anything else runs eagerly). The loss is cloned after each replay because the optimizer
// may keep it while the graph overwrites its own. If the capture fails, the run says so once and goes on
// eagerly. One GraphedEvaluation per scale (each scale has its own objective).
#pragma once
#include <iosfwd>

#include "core/cuda_graph.h"
#include "core/tensor.h"
#include "nst/objective.h"

namespace nst {

class GraphedEvaluation {
  public:
    // enabled = false: a plain pass-through to the objective.
    GraphedEvaluation(bool enabled, std::ostream& log) : enabled_(enabled), log_(log) {}

    // f(x) with its gradient written into g, like Objective::evaluate.
    Tensor operator()(Objective& obj, const Tensor& x, Tensor& g);

  private:
    bool enabled_;
    std::ostream& log_;
    CudaGraph graph_;
    Tensor loss_;
    const float* x_ptr_ = nullptr;
    const float* g_ptr_ = nullptr;
    int eager_ = 0;
};

}  // namespace nst
