// What CPU this is, in words, for benchmarks and reports: every figure is printed with the CPU's name
// and the instruction sets that decide the kernels' speed (libraries' own model tables are not trusted).
#pragma once
#include <string>

namespace nst::cpu {

std::string cpu_model_name();  // /proc/cpuinfo's "model name", or "unknown CPU"
std::string cpu_isa();         // e.g. "avx512f avx512bw avx512vl avx2 fma" (the ones the kernels care about)

}  // namespace nst::cpu
