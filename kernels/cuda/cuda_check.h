// What the kernels add to base/cuda.h (checks, the stream, NST_LAUNCH): the TF32 guard and the library
// workspace.
#pragma once
#include <cstddef>

#include "base/cuda.h"

namespace nst::cuda {
// Throws, naming `what`, unless the current device has TF32 tensor cores (compute capability 8.0+) and
// the code it loads for the TF32 kernels comes from compute_80 or newer PTX (older PTX: trapping bodies):
// the *_tf32 kernels call it before launching.
void require_tf32_tensor_cores(const char* what);
// The PTX version (major * 10 + minor) of the code the current device loads for a TF32 kernel
// (conv2d_ladder.cu; every .cu file is built for the same architectures).
int tf32_kernel_ptx_version();

// Grow-only scratch buffers: slot 0 for library calls (cuDNN workspaces, cuBLAS temporaries) and the
// kernels' own temporaries (flipped filters, Gram split-K partials), slot 1 for the convolutions'
// split-K partials, so that a convolution run inside something holding slot 0 (backward-data with
// flipped filters made on the fly) never overwrites it. A buffer is reallocated only when a larger size
// is asked for, so a steady-state loop never calls cudaMalloc. Valid until the next call for the same
// slot; all users run on stream().
constexpr int kWorkspaceSlots = 2;
void* workspace(size_t bytes, int slot = 0);
}  // namespace nst::cuda
