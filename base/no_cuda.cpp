// Stand-ins compiled only into CPU-only builds (no nvcc found, or -DNST_CUDA=OFF).
#include <cstring>

#include "base/device.h"
#include "base/error.h"

namespace nst {

bool built_with_cuda() { return false; }

const CudaAvailability& cuda_availability() {
    static const CudaAvailability a{0, "this build has no CUDA support (configured without nvcc)", ""};
    return a;
}

void cuda_synchronize() {}

size_t cuda_free_memory() { return 0; }

void copy_bytes(void* dst, bool dst_on_cuda, const void* src, bool src_on_cuda, size_t bytes) {
    if (dst_on_cuda || src_on_cuda) throw Error("copy to or from CUDA memory: " + cuda_availability().reason);
    if (bytes) std::memcpy(dst, src, bytes);
}

void zero_bytes(void* dst, bool on_cuda, size_t bytes) {
    if (on_cuda) throw Error("memset of CUDA memory: " + cuda_availability().reason);
    if (bytes) std::memset(dst, 0, bytes);
}

}  // namespace nst
