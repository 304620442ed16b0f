// Lets one generic lambda call either the float64 CPU reference or the float32 variant chosen for the
// tensor's device: visit_vector_kernels(t, [&](auto tag, const auto& k) { using T = decltype(tag); ... }).
#pragma once
#include "core/dispatch.h"
#include "core/tensor.h"
#include "kernels/cpu/cpu_kernels.h"

namespace nst::detail {

template <class T> struct CpuVectorKernels {
    decltype(&cpu::add<T>) add = cpu::add<T>, sub = cpu::sub<T>, mul = cpu::mul<T>;
    decltype(&cpu::scale<T>) scale = cpu::scale<T>;
    decltype(&cpu::fill_scaled<T>) fill_scaled = cpu::fill_scaled<T>;
    decltype(&cpu::fill<T>) fill = cpu::fill<T>;
    decltype(&cpu::sum<T>) sum = cpu::sum<T>, sum_squares = cpu::sum_squares<T>;
    decltype(&cpu::mse<T>) mse = cpu::mse<T>;
    decltype(&cpu::mse_backward<T>) mse_backward = cpu::mse_backward<T>;
    decltype(&cpu::sum_squares_backward<T>) sum_squares_backward = cpu::sum_squares_backward<T>;
    decltype(&cpu::tv<T>) tv = cpu::tv<T>;
    decltype(&cpu::tv_backward<T>) tv_backward = cpu::tv_backward<T>;
    decltype(&cpu::crop_window<T>) crop_window = cpu::crop_window<T>;
    decltype(&cpu::paste_window<T>) paste_window = cpu::paste_window<T>;
    decltype(&cpu::dot<T>) dot = cpu::dot<T>;
    decltype(&cpu::axpy<T>) axpy = cpu::axpy<T>;
    decltype(&cpu::scal<T>) scal = cpu::scal<T>;
    decltype(&cpu::nrm2<T>) nrm2 = cpu::nrm2<T>;
};

template <class F> void visit_vector_kernels(const Tensor& t, F&& f) {
    if (t.dtype() == DType::F64)
        f(double{}, CpuVectorKernels<double>{});
    else
        f(float{}, vector_kernels(t.device()));
}

template <class F> void visit_blas1_kernels(const Tensor& t, F&& f) {
    if (t.dtype() == DType::F64)
        f(double{}, CpuVectorKernels<double>{});
    else
        f(float{}, blas1_kernels(t.device()));
}

}  // namespace nst::detail
