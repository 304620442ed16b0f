// CPU name and ISA (contract in cpu_info.h).
#include "kernels/cpu/cpu_info.h"

#include <fstream>

namespace nst::cpu {

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    return "unknown CPU";
}

std::string cpu_isa() {
    std::string isa;
#if defined(__x86_64__) && defined(__GNUC__)
    const auto add = [&](bool has, const char* name) {
        if (has) isa += (isa.empty() ? "" : " ") + std::string(name);
    };
    add(__builtin_cpu_supports("avx512f"), "avx512f");
    add(__builtin_cpu_supports("avx512bw"), "avx512bw");
    add(__builtin_cpu_supports("avx512vl"), "avx512vl");
    add(__builtin_cpu_supports("avx512bf16"), "avx512bf16");
    add(__builtin_cpu_supports("avx2"), "avx2");
    add(__builtin_cpu_supports("fma"), "fma");
    add(__builtin_cpu_supports("avx"), "avx");
    if (isa.empty()) isa = "sse2";
#else
    isa = "not x86-64";
#endif
    return isa;
}

}  // namespace nst::cpu
