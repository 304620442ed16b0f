// Tensor: a dense, contiguous NCHW array of float32 (anywhere), float64 (CPU only: gradient checks)
// or int32 (bookkeeping such as max-pool winners), on the CPU or a CUDA device.
//
// A Tensor is a shared handle, like a PyTorch tensor: copies share data. Moving data between devices is
// always explicit (to(), cpu()). Mismatched shapes, dtypes or devices throw nst::Error with both sides
// named. Autograd state (requires_grad, grad, the node that produced it) hangs off the tensor; see
// core/autograd.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "base/error.h"

namespace nst {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

struct AutogradMeta;

// A block of memory on one device, returned to its allocator when the last tensor using it goes.
class Storage {
  public:
    Storage(size_t bytes, Device device);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    void* data() const { return data_; }
    size_t bytes() const { return bytes_; }
    Device device() const { return device_; }

  private:
    void* data_ = nullptr;
    size_t bytes_ = 0;
    Device device_;
};

struct TensorImpl {
    Shape shape;
    DType dtype = DType::F32;
    Device device;
    std::shared_ptr<Storage> storage;
    std::shared_ptr<AutogradMeta> autograd;  // null until autograd needs it
};

class Tensor {
  public:
    Tensor() = default;  // an undefined tensor ("no gradient", "no bias")

    static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
    static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
    static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
    static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::cpu());
    static Tensor from_vector(const std::vector<float>& v, const Shape& shape, Device device = Device::cpu());
    static Tensor from_vector(const std::vector<double>& v, const Shape& shape, Device device = Device::cpu());
    // Deterministic for a given seed, whatever the device: values are drawn on the host.
    static Tensor randn(const Shape& shape, uint64_t seed, DType dtype = DType::F32, Device device = Device::cpu());
    static Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype = DType::F32,
                          Device device = Device::cpu());

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    int ndim() const { return int(shape().size()); }
    int64_t dim(int i) const;  // negative i counts from the end
    int64_t numel() const { return shape_numel(shape()); }
    DType dtype() const;
    Device device() const;
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
    std::string str() const;  // "Tensor(f32, cuda:0, [1,3,5,7])"

    // Typed pointer to the first element; throws if T does not match dtype().
    template <class T> T* data() const;
    void* raw_data() const;

    Tensor to(Device device) const;  // a copy on `device` (or *this, if already there)
    Tensor to(DType dtype) const;    // a converted copy (CPU only)
    Tensor cpu() const { return to(Device::cpu()); }
    Tensor clone() const;            // a copy with its own storage, no autograd history
    Tensor detach() const;           // shares storage, no autograd history
    template <class T> std::vector<T> to_vector() const;  // host copy, converted to T
    double item() const;             // the single value of a one-element tensor (synchronises)

    Tensor& fill_(double value);
    Tensor& copy_(const Tensor& src);  // same shape and dtype; any devices

    // Same data seen with another shape (same numel). Differentiable.
    Tensor reshape(const Shape& shape) const;

    // ---- autograd (core/autograd.cpp) ----
    Tensor& requires_grad_(bool on = true);  // leaves only
    bool requires_grad() const;
    bool is_leaf() const;
    Tensor grad() const;  // accumulated gradient of a leaf, or undefined
    void zero_grad();     // drops the accumulated gradient
    void backward() const;                  // from a one-element tensor, seed 1
    void backward(const Tensor& seed, bool retain_graph = false) const;

    TensorImpl* impl() const { return impl_.get(); }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
    bool same_storage(const Tensor& o) const { return impl_ && o.impl_ && impl_->storage == o.impl_->storage; }
    // Whether this handle is the only one to its data (no copy, view or detached alias shares the storage).
    bool sole_owner() const { return impl_ && impl_.use_count() == 1 && impl_->storage.use_count() == 1; }

  private:
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
    const TensorImpl& checked() const;
    std::shared_ptr<TensorImpl> impl_;
};

// Argument checks shared by ops; each throws nst::Error naming `op` and the offending tensors.
void check_defined(const Tensor& t, const char* op, const char* arg);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_float(const Tensor& t, const char* op);  // F32 anywhere or F64 on the CPU
void check_ndim(const Tensor& t, int ndim, const char* op, const char* arg);

}  // namespace nst
