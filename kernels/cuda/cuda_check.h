// What the kernels add to base/cuda.h (checks, the stream, NST_LAUNCH): the TF32 guard and the library
// workspace.
#pragma once
#include <cstddef>

#include "base/cuda.h"

namespace nst::cuda {
// Throws, naming `what`, unless the current device has TF32 tensor cores (compute capability 8.0+):
// the *_tf32 kernels call it before launching.
void require_tf32_tensor_cores(const char* what);

// A grow-only scratch buffer for library calls (cuDNN workspaces, cuBLAS temporaries). It is
// reallocated only when a larger size is asked for, so a steady-state loop never calls cudaMalloc.
// Valid until the next call to workspace(); all users run on stream().
void* workspace(size_t bytes);
}  // namespace nst::cuda
