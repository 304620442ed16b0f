// CUDA graph capture and replay (contract in cuda_graph.h).
#include "core/cuda_graph.h"

#include "core/allocator.h"
#include "base/device.h"
#include "kernels/workspace.h"
#include "base/error.h"
#ifdef NST_HAVE_CUDA
#include "kernels/cuda/cuda_check.h"
#endif

namespace nst {

#ifdef NST_HAVE_CUDA
CudaGraph::~CudaGraph() {
    try {
        reset();
    } catch (...) {  // a destructor must not throw; the device is in trouble anyway
    }
}

void CudaGraph::reset() {
    if (exec_ || graph_) NST_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));  // a replay may still run
    if (exec_) NST_CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)));
    if (graph_) NST_CUDA_CHECK(cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)));
    exec_ = graph_ = nullptr;
    if (pool_ >= 0) cuda_graph_pool_release(pool_);
    pool_ = -1;
    if (holds_workspace_) cuda_workspace_release();  // after the sync above: no replay runs now
    holds_workspace_ = false;
}

void CudaGraph::capture(const std::function<void()>& fn) {
    if (!cuda_available()) throw Error("CUDA graph: " + cuda_availability().reason);
    reset();
    cudaStream_t s = cuda::stream();
    // Relaxed: the allocator may still call cudaMalloc during the capture (for blocks the graph keeps).
    NST_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    pool_ = cuda_graph_pool_begin();
    cuda_workspace_hold();  // the graph will use the workspace's current buffer (kernels/workspace.h)
    holds_workspace_ = true;
    cudaGraph_t g = nullptr;
    try {
        fn();
    } catch (...) {
        cuda_graph_pool_end();
        cudaStreamEndCapture(s, &g);  // ends the (invalidated) capture; its error is the one thrown
        if (g) cudaGraphDestroy(g);
        (void)cudaGetLastError();
        reset();
        throw;
    }
    cuda_graph_pool_end();
    NST_CUDA_CHECK(cudaStreamEndCapture(s, &g));
    graph_ = g;
    cudaGraphExec_t exec = nullptr;
    NST_CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
    exec_ = exec;
}

void CudaGraph::replay() {
    if (!exec_) throw Error("CUDA graph: replay() before a successful capture()");
    NST_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda::stream()));
}

#else
CudaGraph::~CudaGraph() = default;
void CudaGraph::reset() {}
void CudaGraph::capture(const std::function<void()>&) { throw Error("CUDA graph: this build has no CUDA"); }
void CudaGraph::replay() { throw Error("CUDA graph: this build has no CUDA"); }
#endif

}  // namespace nst
