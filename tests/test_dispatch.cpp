// Variant registry and selection.
#include "core/allocator.h"
#include "core/dispatch.h"
#include "base/device.h"
#include "core/ops.h"
#include "tests/catch.h"
#include "tests/test_util.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace nst;

namespace {
// The cells of docs/architecture.md's variant table row that starts with "| <first>": CPU, CUDA own, CUDA
// library; and the `names` in backticks in a cell.
std::vector<std::string> table_row(const std::string& doc, const std::string& first) {
    const size_t at = doc.find("\n| " + first);
    REQUIRE(at != std::string::npos);
    const std::string line = doc.substr(at + 1, doc.find('\n', at + 1) - at - 1);
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, '|');) cells.push_back(cell);
    REQUIRE(cells.size() >= 5);  // "", op, CPU, CUDA own, CUDA library
    return {cells[2], cells[3], cells[4]};
}
std::vector<std::string> ticked(const std::string& cell) {
    std::vector<std::string> names;
    for (size_t a = cell.find('`'); a != std::string::npos; a = cell.find('`', a + 1)) {
        const size_t b = cell.find('`', a + 1);
        if (b == std::string::npos) break;
        names.push_back(cell.substr(a + 1, b - a - 1));
        a = b;
    }
    return names;
}
}  // namespace

TEST_CASE("docs/architecture.md's variant table names every registered variant on its device", "[dispatch]") {
    std::ifstream f(std::string(NST_FIXTURES_DIR) + "/../../docs/architecture.md");
    REQUIRE(f);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string doc = ss.str();
    const std::pair<const char*, const char*> rows[] = {{"conv2d", "conv2d"}, {"relu", "relu"},
                                                        {"max_pool", "max_pool"}, {"avg_pool", "max_pool, avg_pool"},
                                                        {"gram", "gram"}, {"vector", "vector"}, {"blas1", "blas1"},
                                                        {"optim", "optim"}, {"feedforward", "feedforward"}};
    for (const auto& [op, row] : rows) {
        const auto cells = table_row(doc, row);
        const auto cpu = ticked(cells[0]);
        auto cuda = ticked(cells[1]);
        for (const auto& n : ticked(cells[2])) cuda.push_back(n);
        for (const auto& v : variant_names(op, DeviceKind::CPU)) {
            INFO(op << " CPU variant " << v << " is missing from the row: " << cells[0]);
            CHECK(std::find(cpu.begin(), cpu.end(), v) != cpu.end());
        }
        for (const auto& v : variant_names(op, DeviceKind::CUDA)) {
            INFO(op << " CUDA variant " << v << " is missing from the row");
            CHECK(std::find(cuda.begin(), cuda.end(), v) != cuda.end());
        }
    }
}

TEST_CASE("every op has a CPU reference variant and CUDA tables exist exactly in CUDA builds", "[dispatch]") {
    for (const char* op :
         {"conv2d", "relu", "max_pool", "avg_pool", "gram", "vector", "blas1", "optim", "feedforward"}) {
        INFO(op);
        const auto cpu = variant_names(op, DeviceKind::CPU);
        REQUIRE(!cpu.empty());
        CHECK(std::find(cpu.begin(), cpu.end(), "reference") != cpu.end());
        CHECK(variant_names(op, DeviceKind::CUDA).empty() == !built_with_cuda());
    }
    if (built_with_cuda()) {
        const auto conv = variant_names("conv2d", DeviceKind::CUDA);
        CHECK(conv.front() == "naive");  // the ladder's order, rung 1 first
        // The default is the fastest fp32 rung verified on a GPU, not the first row.
        CHECK(std::string(conv2d_kernels(Device::cuda()).name) == "igemm");
        CHECK(std::string(gram_kernels(Device::cuda()).name) == "syrk");
        CHECK((std::find(conv.begin(), conv.end(), "cudnn") != conv.end()) == built_with_cudnn());
        const auto gram = variant_names("gram", DeviceKind::CUDA);
        CHECK(std::find(gram.begin(), gram.end(), "cublas") != gram.end());
    }
}

TEST_CASE("pinning a variant, backends and their errors", "[dispatch][errors]") {
    {
        ScopedVariant pin("conv2d", "reference");
        CHECK(pinned_variant("conv2d") == "reference");
    }
    CHECK(pinned_variant("conv2d").empty());
    {
        ScopedVariant pin("conv2d", "no-such-kernel");
        CHECK_THROWS_WITH(conv2d_kernels(Device::cpu()), Catch::Contains("no-such-kernel"));
    }
    CHECK_THROWS_WITH(set_variant("convolution", "x"), Catch::Contains("unknown op"));
    CHECK_THROWS_WITH(parse_backend("tensorflow"), Catch::Contains("unknown backend"));
    CHECK(parse_backend("cudnn") == Backend::Library);
    // The CPU's defaults are the project's own kernels; the library backend picks OpenBLAS where it was
    // built (the `blas` yardsticks), and falls back to the defaults where it was not. Reduction-only ops
    // (relu) have no library variant on any build.
    const std::string cpu_default = gram_kernels(Device::cpu()).name;
    CHECK(cpu_default == "gemm");
    CHECK(std::string(conv2d_kernels(Device::cpu()).name) == "winograd");
    set_backend(Backend::Library);
#ifdef NST_HAVE_OPENBLAS
    CHECK(std::string(gram_kernels(Device::cpu()).name) == "blas");
    CHECK(std::string(conv2d_kernels(Device::cpu()).name) == "blas");
#else
    CHECK(std::string(gram_kernels(Device::cpu()).name) == cpu_default);
#endif
    CHECK(std::string(relu_kernels(Device::cpu()).name) == "threaded");
    set_backend(Backend::Own);
    if (!built_with_cuda()) CHECK_THROWS_WITH(gram_kernels(Device::cuda()), Catch::Contains("no CUDA"));
}

TEST_CASE("set_cuda_device for a --gpu N that cannot run says why, in the driver's words, and names --gpu -1", "[dispatch][errors]") {
    if (cuda_available()) {  // a device (or the CUDA-on-CPU layer): ask for one past the last
        const int n = cuda_availability().device_count;
        CHECK_THROWS_WITH(set_cuda_device(n), Catch::Contains("--gpu " + std::to_string(n) + ": there is no CUDA device") &&
                                                  Catch::Contains("use --gpu -1 to run on the CPU"));
        return;
    }
    CHECK_THROWS_WITH(set_cuda_device(0), Catch::Contains("--gpu 0: ") && Catch::Contains(cuda_availability().reason) &&
                                              Catch::Contains("use --gpu -1 to run on the CPU"));
}

#if defined(NST_HAVE_CUDA) && !defined(NST_CUDA_EMULATION)
#include <cublas_v2.h>

#include <fstream>
#include <sstream>

// cuBLAS is not linked but loaded on its first call (kernels/cublas/cublas_loader.cpp): a CPU run must not
// pay the ~150 MiB its libraries take once mapped. Runs in its own process (one test case per ctest).
TEST_CASE("cuBLAS is loaded on its first call, not at start-up", "[dispatch]") {
    const auto maps = [] {
        std::ifstream f("/proc/self/maps");
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
    CHECK(maps().find("libcublas") == std::string::npos);
    // The real library answers with its own words ("success"); the loader's fallback would explain a
    // failed dlopen instead.
    const std::string said = cublasGetStatusString(CUBLAS_STATUS_SUCCESS);
    INFO(said);
    CHECK(said.find("could not be loaded") == std::string::npos);
    CHECK_FALSE(said.empty());
    CHECK(maps().find("libcublas") != std::string::npos);
}
#endif
