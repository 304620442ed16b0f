// available_memory (contract in base/device.h); its CUDA half, cuda_free_memory, is in
// base/cuda_runtime.cpp or base/no_cuda.cpp.
#include <fstream>
#include <sstream>
#include <string>

#include "base/device.h"

namespace nst {

size_t available_memory(Device d) {
    if (d.is_cuda()) return cuda_free_memory();
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream s(line);
        std::string key;
        size_t kib = 0;
        if (s >> key >> kib && key == "MemAvailable:") return kib * 1024;
    }
    return 0;
}

}  // namespace nst
