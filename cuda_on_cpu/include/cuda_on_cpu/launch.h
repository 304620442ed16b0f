// cuda_on_cpu: kernel launches. NST_LAUNCH(kernel, grid, block, smem, stream)(args...) expands to
// cuda_on_cpu::launcher(kernel, "kernel", grid, block, smem, stream)(args...) in the emulation build.
//
// As CUDA does, the arguments are converted to the kernel's parameter types and copied once at the
// launch; every CUDA thread then gets its own copy of those (kernels may modify their parameters).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace cuda_on_cpu {

struct LaunchConfig {
    const char* kernel_name;
    dim3 grid, block;
    size_t shared_bytes;
    cudaStream_t stream;
    size_t max_shared_bytes = 48u << 10;  // the kernel's dynamic shared memory limit (cudaFuncSetAttribute)
};

// Checks the configuration (CUDA's limits), then runs `body` once per CUDA thread of the grid, or
// records it when the stream is being captured. Errors are reported as CUDA reports them:
// cudaGetLastError() after the launch.
void launch(const LaunchConfig& config, std::function<void()> body);

template <class... Params> class Launcher {
  public:
    Launcher(void (*kernel)(Params...), LaunchConfig config) : kernel_(kernel), config_(config) {}

    template <class... Args> void operator()(Args&&... args) const {
        static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong number of arguments");
        auto params = std::make_shared<const std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
        launch(config_, [kernel = kernel_, params] {
            std::apply([kernel](const auto&... p) { kernel(p...); }, *params);  // each thread copies them
        });
    }

  private:
    void (*kernel_)(Params...);
    LaunchConfig config_;
};

template <class... Params>
Launcher<Params...> launcher(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block, size_t shared_bytes,
                             cudaStream_t stream) {
    return Launcher<Params...>(kernel, LaunchConfig{name, grid, block, shared_bytes, stream,
                                                    max_dynamic_shared(reinterpret_cast<const void*>(kernel))});
}

}  // namespace cuda_on_cpu
