// The library workspace's holds for CUDA graphs. A graph replays with the addresses of its capture,
// the library workspace's included (cuda::workspace, kernels/cuda/cuda_check.h). core/cuda_graph.cpp
// holds the workspace from the start of a capture until the graph is destroyed; while any hold is on, a
// workspace that must grow keeps its old buffer (freed when the last hold is released) instead of
// freeing it under the graph. No-ops in CPU-only builds.
#pragma once

namespace nst {

void cuda_workspace_hold();
void cuda_workspace_release();

}  // namespace nst
