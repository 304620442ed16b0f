// Where a tensor lives and what it holds.
#pragma once
#include <cstddef>
#include <string>

#include "kernels/registry.h"  // DeviceKind

namespace nst {

enum class DType { F32, F64, I32 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f64", "i32"

struct Device {
    DeviceKind kind = DeviceKind::CPU;
    int index = 0;
    static Device cpu() { return {DeviceKind::CPU, 0}; }
    static Device cuda(int index = 0) { return {DeviceKind::CUDA, index}; }
    bool is_cpu() const { return kind == DeviceKind::CPU; }
    bool is_cuda() const { return kind == DeviceKind::CUDA; }
    std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
    bool operator==(const Device&) const = default;
};

}  // namespace nst
