// What a tensor holds (its dtype); where it lives is base/device.h's Device.
#pragma once
#include <cstddef>
#include <string>

#include "base/device.h"  // Device, DeviceKind

namespace nst {

enum class DType { F32, F64, I32 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f64", "i32"

}  // namespace nst
