// Which kernel variant runs an op on a device.
//
// Default: the project's own kernels (default_variant's row, else the first non-library row of the
// op's table in kernels/registry.cpp). set_backend(Backend::Library), or NST_BACKEND=library, switches every op that
// has a library variant (cuDNN, cuBLAS) to it. A single op can be pinned to a named variant with
// set_variant("conv2d", "cudnn") or NST_KERNELS="conv2d=cudnn,gram=naive"; tests and benchmarks use
// ScopedVariant to run each registered variant in turn. Op names: conv2d, relu, max_pool, avg_pool,
// gram, vector, blas1, optim, feedforward.
#pragma once
#include <string>
#include <vector>

#include "core/device.h"
#include "kernels/registry.h"

namespace nst {

enum class Backend { Own, Library };
Backend backend();
void set_backend(Backend b);
Backend parse_backend(const std::string& name);  // "own" | "library" (aliases "cudnn", "cublas")

void set_variant(const std::string& op, const std::string& variant);  // "" clears the pin
std::string pinned_variant(const std::string& op);

class ScopedVariant {
  public:
    ScopedVariant(std::string op, const std::string& variant);
    ~ScopedVariant();
    ScopedVariant(const ScopedVariant&) = delete;
    ScopedVariant& operator=(const ScopedVariant&) = delete;

  private:
    std::string op_, prev_;
};

const Conv2dVariant& conv2d_kernels(Device d);
const ReluVariant& relu_kernels(Device d);
const PoolVariant& max_pool_kernels(Device d);
const PoolVariant& avg_pool_kernels(Device d);
const GramVariant& gram_kernels(Device d);
const VectorVariant& vector_kernels(Device d);
const Blas1Variant& blas1_kernels(Device d);
const OptimVariant& optim_kernels(Device d);
const FeedForwardVariant& feedforward_kernels(Device d);

// Names of the variants registered for an op on a device, in table order.
std::vector<std::string> variant_names(const std::string& op, DeviceKind d);

}  // namespace nst
