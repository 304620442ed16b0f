// Record once, replay many times: a CUDA graph of everything a piece of code launches on the project's
// stream (kernels/cuda/cuda_check.h, stream()).
//
//   CudaGraph g;
//   Tensor loss;
//   g.capture([&] { loss = objective.evaluate(x, grad); });  // nothing runs yet: launches are recorded
//   g.replay();                                             // runs them; loss and grad now hold results
//
// Contract: the captured code must launch the same work on every replay, which holds when its host-side
// logic does not read device results (the objective keeps its scalars on the device) and its inputs
// and outputs stay at the same addresses (x and grad above are updated in place between replays).
// Memory allocated during the capture belongs to the graph (core/allocator.h) and is never handed to
// other tensors while the graph lives, so tensors made inside the capture (loss) hold each replay's
// results. Warm up once before capturing, so that library workspaces have reached their size and the
// capture need not wait for the device (a workspace that still grows then, or while the graph lives, keeps
// its old buffer for the graph until the graph is destroyed: kernels/workspace.h). Errors (including CUDA's
// "operation not permitted when stream is capturing") throw nst::Error, after which the graph is left empty.
#pragma once
#include <functional>

namespace nst {

class CudaGraph {
  public:
    CudaGraph() = default;
    ~CudaGraph();
    CudaGraph(const CudaGraph&) = delete;
    CudaGraph& operator=(const CudaGraph&) = delete;

    void capture(const std::function<void()>& fn);
    void replay();
    bool captured() const { return exec_ != nullptr; }

  private:
    void reset();
    void* graph_ = nullptr;  // cudaGraph_t and cudaGraphExec_t, kept opaque so this header needs no CUDA
    void* exec_ = nullptr;
    int pool_ = -1;
    bool holds_workspace_ = false;  // from capture() to reset(): see cuda_workspace_hold (kernels/workspace.h)
};

}  // namespace nst
