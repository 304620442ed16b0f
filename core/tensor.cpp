// Tensor construction, transfers, conversions and argument checks.
#include "core/tensor.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/dispatch.h"
#include "base/device.h"

namespace nst {

std::string shape_str(const Shape& s) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
    o << ']';
    return o.str();
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
    data_ = allocate(device, bytes);
}
Storage::~Storage() { deallocate(device_, data_, bytes_); }

const TensorImpl& Tensor::checked() const {
    if (!impl_) throw Error("use of an undefined tensor");
    return *impl_;
}
const Shape& Tensor::shape() const { return checked().shape; }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().device; }

int64_t Tensor::dim(int i) const {
    const int n = ndim();
    const int j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) throw Error("dim(" + std::to_string(i) + ") of a tensor of shape " + shape_str(shape()));
    return shape()[size_t(j)];
}

std::string Tensor::str() const {
    if (!impl_) return "Tensor(undefined)";
    return std::string("Tensor(") + dtype_name(dtype()) + ", " + device().str() + ", " + shape_str(shape()) + ")";
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    for (int64_t d : shape)
        if (d < 0) throw Error("negative dimension in shape " + shape_str(shape));
    if (dtype == DType::F64 && device.is_cuda())
        throw Error("float64 tensors live on the CPU only (they exist for gradient checks); asked for " + device.str());
    auto impl = std::make_shared<TensorImpl>();
    impl->shape = shape;
    impl->dtype = dtype;
    impl->device = device;
    impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
    return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    zero_bytes(t.raw_data(), device.is_cuda(), t.nbytes());
    return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
    return empty(shape, dtype, device).fill_(value);
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

namespace {
template <class T> Tensor from_host(const std::vector<T>& v, const Shape& shape, DType dtype, Device device) {
    if (int64_t(v.size()) != shape_numel(shape))
        throw Error("from_vector: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
    Tensor t = Tensor::empty(shape, dtype, device);
    copy_bytes(t.raw_data(), device.is_cuda(), v.data(), false, v.size() * sizeof(T));
    return t;
}

template <class Dist>
Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype, Device device, Dist dist) {
    std::mt19937_64 rng(seed);
    const int64_t n = shape_numel(shape);
    if (dtype == DType::F64) {
        std::vector<double> v(static_cast<size_t>(n));
        for (auto& x : v) x = dist(rng);
        return from_host(v, shape, dtype, device);
    }
    if (dtype != DType::F32) throw Error("random tensors are float32 or float64");
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = float(dist(rng));
    return from_host(v, shape, dtype, device);
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, Device device) {
    return from_host(v, shape, DType::F32, device);
}
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& shape, Device device) {
    return from_host(v, shape, DType::F64, device);
}
Tensor Tensor::randn(const Shape& shape, uint64_t seed, DType dtype, Device device) {
    return random_tensor(shape, seed, dtype, device, std::normal_distribution<double>(0.0, 1.0));
}
Tensor Tensor::uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype, Device device) {
    return random_tensor(shape, seed, dtype, device, std::uniform_real_distribution<double>(lo, hi));
}

void* Tensor::raw_data() const { return checked().storage->data(); }

template <class T> T* Tensor::data() const {
    constexpr DType want = std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I32;
    if (dtype() != want)
        throw Error(std::string("data<") + dtype_name(want) + ">() on a tensor of dtype " + dtype_name(dtype()));
    return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;

Tensor Tensor::to(Device device) const {
    if (this->device() == device) return *this;
    Tensor out = empty(shape(), dtype(), device);
    copy_bytes(out.raw_data(), device.is_cuda(), raw_data(), this->device().is_cuda(), nbytes());
    return out;
}

Tensor Tensor::to(DType dt) const {
    if (dtype() == dt) return *this;
    if (!device().is_cpu()) throw Error(std::string("dtype conversion to ") + dtype_name(dt) + " is CPU-only; tensor is on " + device().str());
    Tensor out = empty(shape(), dt, device());
    const int64_t n = numel();
    auto convert = [&](auto* dst) {
        using D = std::remove_pointer_t<decltype(dst)>;
        switch (dtype()) {
            case DType::F32: { const float* s = data<float>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
            case DType::F64: { const double* s = data<double>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
            case DType::I32: { const int32_t* s = data<int32_t>(); for (int64_t i = 0; i < n; ++i) dst[i] = D(s[i]); break; }
        }
    };
    switch (dt) {
        case DType::F32: convert(out.data<float>()); break;
        case DType::F64: convert(out.data<double>()); break;
        case DType::I32: convert(out.data<int32_t>()); break;
    }
    return out;
}

Tensor Tensor::clone() const {
    Tensor out = empty(shape(), dtype(), device());
    copy_bytes(out.raw_data(), device().is_cuda(), raw_data(), device().is_cuda(), nbytes());
    return out;
}

Tensor Tensor::detach() const {
    auto impl = std::make_shared<TensorImpl>();
    impl->shape = shape();
    impl->dtype = dtype();
    impl->device = device();
    impl->storage = checked().storage;
    return Tensor(std::move(impl));
}

template <class T> std::vector<T> Tensor::to_vector() const {
    const Tensor h = cpu().to(std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I32);
    const T* p = h.data<T>();
    return std::vector<T>(p, p + h.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;

double Tensor::item() const {
    if (numel() != 1) throw Error("item() needs a one-element tensor, got shape " + shape_str(shape()));
    return to_vector<double>()[0];
}

Tensor& Tensor::fill_(double value) {
    const int64_t n = numel();
    switch (dtype()) {
        case DType::F32: vector_kernels(device()).fill(float(value), data<float>(), n); break;  // no host copy
        case DType::F64: copy_(from_vector(std::vector<double>(size_t(n), value), shape())); break;
        case DType::I32: {
            Tensor h = empty(shape(), DType::I32);
            for (int64_t i = 0; i < n; ++i) h.data<int32_t>()[i] = int32_t(value);
            copy_(h);
            break;
        }
    }
    return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
    check_defined(src, "copy_", "src");
    if (src.shape() != shape() || src.dtype() != dtype())
        throw Error("copy_: destination " + str() + " and source " + src.str() + " differ in shape or dtype");
    copy_bytes(raw_data(), device().is_cuda(), src.raw_data(), src.device().is_cuda(), nbytes());
    return *this;
}

Tensor Tensor::reshape(const Shape& new_shape) const {
    if (shape_numel(new_shape) != numel())
        throw Error("reshape: cannot view " + str() + " as " + shape_str(new_shape));
    Tensor out = detach();
    out.impl_->shape = new_shape;
    const Shape old_shape = shape();
    autograd::record(out, "reshape", {this}, [old_shape](const Tensor& g, const Node&) -> std::vector<Tensor> {
        return {g.detach().reshape(old_shape)};
    });
    return out;
}

void check_defined(const Tensor& t, const char* op, const char* arg) {
    if (!t.defined()) throw Error(std::string(op) + ": argument '" + arg + "' is an undefined tensor");
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
    if (a.device() != b.device())
        throw Error(std::string(op) + ": tensors on different devices: " + a.str() + " and " + b.str() +
                    " (move one with .to())");
}
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
    if (a.dtype() != b.dtype())
        throw Error(std::string(op) + ": dtype mismatch: " + a.str() + " and " + b.str());
}
void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
    if (a.shape() != b.shape())
        throw Error(std::string(op) + ": shape mismatch: " + a.str() + " and " + b.str());
}
void check_float(const Tensor& t, const char* op) {
    if (t.dtype() == DType::I32) throw Error(std::string(op) + ": needs a float tensor, got " + t.str());
}
void check_ndim(const Tensor& t, int ndim, const char* op, const char* arg) {
    if (t.ndim() != ndim)
        throw Error(std::string(op) + ": '" + arg + "' must have " + std::to_string(ndim) + " dimensions, got " + t.str());
}

}  // namespace nst
