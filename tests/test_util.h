// Helpers shared by the tests: relative error, a float64 finite-difference gradient checker with kink
// skipping, and the CUDA skip macro.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "base/device.h"
#include "kernels/registry.h"

namespace nst::test {

// A folder of its own for one test (several in one test stay apart), removed afterwards.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name = "frames") {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("nst_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string& n) const { return (path / n).string(); }
};

// ‖a − b‖ / ‖b‖ (b is the reference); absolute when the reference is all zeros.
inline double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return INFINITY;
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    if (std::isnan(num)) return INFINITY;
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
inline double rel_err(const Tensor& a, const Tensor& ref) { return rel_err(a.to_vector<double>(), ref.to_vector<double>()); }

// Same shape, dtype and bytes (a fused kernel that claims to equal two ops to the bit); both moved to the CPU.
inline bool same_bits(const Tensor& a, const Tensor& b) {
    const Tensor x = a.cpu(), y = b.cpu();
    if (x.shape() != y.shape() || x.dtype() != y.dtype()) return false;
    return std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

struct GradcheckReport {
    int checked = 0;   // elements whose analytic gradient matched the central difference
    int skipped = 0;   // elements within eps of a kink (one-sided differences disagree)
    int failed = 0;
    double worst = 0;  // largest |analytic − numeric| / max(1, |numeric|)
    std::string first_failure;
};

// Checks d<f(inputs), R>/d input against central differences for every input that requires grad.
// f must build its output from float64 CPU tensors; R is a fixed random projection, so one backward
// (seeded with R) gives the analytic gradient of the scalar L = Σ f(x)·R. An element is skipped as a
// kink when the forward and backward one-sided slopes differ by more than `kink_tol` (relative):
// there the function is not differentiable within ±eps and the central difference means nothing.
inline GradcheckReport gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 std::vector<Tensor> inputs, double eps = 1e-6, double tol = 1e-6,
                                 double kink_tol = 1e-3) {
    GradcheckReport rep;
    for (auto& t : inputs) t.zero_grad();
    Tensor out = f(inputs);
    const Tensor R = Tensor::uniform(out.shape(), -1.0, 1.0, 12345, DType::F64);
    const std::vector<double> r = R.to_vector<double>();
    out.backward(R);
    auto L = [&]() {
        NoGradGuard ng;
        const std::vector<double> o = f(inputs).to_vector<double>();
        double s = 0;
        for (size_t i = 0; i < o.size(); ++i) s += o[i] * r[i];
        return s;
    };
    const double L0 = L();
    for (size_t k = 0; k < inputs.size(); ++k) {
        Tensor& x = inputs[k];
        if (!x.requires_grad()) continue;
        const Tensor gt = x.grad();
        const std::vector<double> analytic = gt.defined() ? gt.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
        double* p = x.data<double>();
        for (int64_t i = 0; i < x.numel(); ++i) {
            const double orig = p[i];
            p[i] = orig + eps;
            const double Lp = L();
            p[i] = orig - eps;
            const double Lm = L();
            p[i] = orig;
            const double fwd = (Lp - L0) / eps, bwd = (L0 - Lm) / eps;
            if (std::abs(fwd - bwd) > kink_tol * std::max({1.0, std::abs(fwd), std::abs(bwd)})) {
                ++rep.skipped;
                continue;
            }
            const double numeric = (Lp - Lm) / (2 * eps);
            const double err = std::abs(analytic[size_t(i)] - numeric) / std::max(1.0, std::abs(numeric));
            rep.worst = std::max(rep.worst, err);
            if (err > tol) {
                if (!rep.failed)
                    rep.first_failure = "input " + std::to_string(k) + " element " + std::to_string(i) + ": analytic " +
                                        std::to_string(analytic[size_t(i)]) + " numeric " + std::to_string(numeric);
                ++rep.failed;
            } else {
                ++rep.checked;
            }
        }
    }
    return rep;
}

inline Tensor rand64(const Shape& s, uint64_t seed, bool grad = true) {
    Tensor t = Tensor::uniform(s, -1.0, 1.0, seed, DType::F64);
    if (grad) t.requires_grad_();
    return t;
}

}  // namespace nst::test

// CUDA tests begin with this: without a device they say so in a line that ctest turns into "skipped".
#define NST_REQUIRE_CUDA()                                                                           \
    do {                                                                                             \
        if (!::nst::cuda_available()) {                                                              \
            std::cout << "NST_SKIPPED: no CUDA device (" << ::nst::cuda_availability().reason << ")\n"; \
            return;                                                                                  \
        }                                                                                            \
    } while (0)

#define NST_REQUIRE_CUDNN()                                                                          \
    do {                                                                                             \
        NST_REQUIRE_CUDA();                                                                          \
        if (!::nst::built_with_cudnn()) {                                                            \
            std::cout << "NST_SKIPPED: " << ::nst::cudnn_absence() << "; cuDNN variants untested\n";       \
            return;                                                                                  \
        }                                                                                            \
    } while (0)
