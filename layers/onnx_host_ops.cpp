// The ONNX operators on small host arrays (contract in onnx_host_ops.h).
#include "layers/onnx_host_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>

#include "base/error.h"
#include "weights/weight_file.h"

namespace nst {

using weights::OnnxAttribute;
using weights::OnnxType;
using weights::shape_to_string;

namespace {

[[noreturn]] void fail(const OnnxNode& n, const std::string& why) { throw Error(n.label() + ": " + why); }

int64_t numel_of(const std::vector<int64_t>& shape, const OnnxNode& n) {
    return weights::checked_numel(shape, n.label() + ": result", kOnnxHostMaxElements);
}

constexpr size_t kMaxRank = 32;  // ONNX sets none; no network here comes near, and per-element work is O(rank)

OnnxTensor make(OnnxType type, std::vector<int64_t> shape, const OnnxNode& n) {
    if (shape.size() > kMaxRank) fail(n, "a result of rank " + std::to_string(shape.size()) + " (at most " + std::to_string(kMaxRank) + ")");
    OnnxTensor t;
    t.type = type;
    t.shape = std::move(shape);
    const int64_t count = numel_of(t.shape, n);
    if (t.floating()) t.f.assign(size_t(count), 0.0f);
    else t.i.assign(size_t(count), 0);
    return t;
}

// A computed value into element k: floats as float; integers from a double only where it is a whole number
// inside int64's range (integers copied from integers go through copy_elem, exactly).
void set(OnnxTensor& t, int64_t k, double v) {
    if (t.floating()) {
        t.f[size_t(k)] = float(v);
        return;
    }
    if (!(v >= -9.2e18 && v <= 9.2e18)) throw Error("an integer result out of range (" + std::to_string(v) + ")");
    t.i[size_t(k)] = int64_t(v);
}

// Element src of x into element k of y, exactly when both are integers (INT64_MAX stays INT64_MAX).
void copy_elem(OnnxTensor& y, int64_t k, const OnnxTensor& x, int64_t src) {
    if (!y.floating() && !x.floating()) y.i[size_t(k)] = x.i[size_t(src)];
    else if (y.floating() && x.floating()) y.f[size_t(k)] = x.f[size_t(src)];
    else set(y, k, x.at(src));
}

// One element as the single value of a scalar-like input (min, max, pad value, epsilon): an Error unless it
// holds exactly one.
double scalar_of(const OnnxNode& n, const OnnxTensor& t, const char* what) {
    if (t.numel() != 1) fail(n, std::string(what) + " must hold one value, not " + std::to_string(t.numel()));
    return t.at(0);
}

const OnnxTensor& need(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, size_t k) {
    if (k >= in.size() || !in[k]) fail(n, "input " + std::to_string(k + 1) + " is missing");
    return *in[k];
}

std::vector<int64_t> ints_of(const OnnxTensor& t) {
    std::vector<int64_t> v;
    for (int64_t k = 0; k < t.numel(); ++k) v.push_back(t.floating() ? int64_t(t.f[size_t(k)]) : t.i[size_t(k)]);
    return v;
}

int64_t norm_axis(int64_t a, int64_t rank, const OnnxNode& n) {
    if (a < -rank || a >= rank) fail(n, "axis " + std::to_string(a) + " is outside a rank-" + std::to_string(rank) + " tensor");
    return a < 0 ? a + rank : a;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
    std::vector<int64_t> s(shape.size(), 1);
    for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) s[size_t(d)] = s[size_t(d + 1)] * shape[size_t(d + 1)];
    return s;
}

// Walks the elements of `out_shape` in order, calling f(k, ia, ib) with the offsets of the elements of
// inputs of shapes a and b broadcast to it (numpy rules), without materialising index arrays.
template <class F>
void for_each_broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const std::vector<int64_t>& out, F f) {
    const size_t r = out.size();
    auto eff = [&](const std::vector<int64_t>& in) {
        std::vector<int64_t> st = strides_of(in), e(r, 0);
        for (size_t d = 0; d < in.size(); ++d) e[d + r - in.size()] = in[d] == 1 ? 0 : st[d];
        return e;
    };
    const std::vector<int64_t> ea = eff(a), eb = eff(b);
    int64_t total = 1;
    for (int64_t d : out) total *= d;
    std::vector<int64_t> coord(r, 0);
    int64_t ia = 0, ib = 0;
    for (int64_t k = 0; k < total; ++k) {
        f(k, ia, ib);
        for (size_t d = r; d-- > 0;) {
            if (++coord[d] < out[d]) {
                ia += ea[d], ib += eb[d];
                break;
            }
            ia -= ea[d] * (out[d] - 1), ib -= eb[d] * (out[d] - 1);
            coord[d] = 0;
        }
    }
}

int64_t int_op(const OnnxNode& n, int64_t x, int64_t z) {
    int64_t v = 0;
    bool overflow = false;
    if (n.op == "Add") overflow = __builtin_add_overflow(x, z, &v);
    else if (n.op == "Sub") overflow = __builtin_sub_overflow(x, z, &v);
    else if (n.op == "Mul") overflow = __builtin_mul_overflow(x, z, &v);
    else if (n.op == "Div") {
        if (z == 0) fail(n, "integer division by zero");
        if (x == INT64_MIN && z == -1) overflow = true;
        else v = x / z;  // truncates, as C and the operator document
    } else {  // Pow
        const double p = std::pow(double(x), double(z));
        if (!(p >= -9.2e18 && p <= 9.2e18)) overflow = true;
        else v = int64_t(p);
    }
    if (overflow) fail(n, "integer overflow");
    return v;
}

OnnxTensor binary(const OnnxNode& n, const OnnxTensor& a, const OnnxTensor& b) {
    if (a.floating() != b.floating()) fail(n, std::string("mixes ") + onnx_type_name(a.type) + " and " + onnx_type_name(b.type));
    OnnxTensor y = make(a.type, broadcast_shapes(a.shape, b.shape, n.label()), n);
    const std::string& op = n.op;
    for_each_broadcast(a.shape, b.shape, y.shape, [&](int64_t k, int64_t ia, int64_t ib) {
        if (!a.floating()) {
            y.i[size_t(k)] = int_op(n, a.i[size_t(ia)], b.i[size_t(ib)]);
            return;
        }
        const double x = a.f[size_t(ia)], z = b.f[size_t(ib)];
        const double v = op == "Add" ? x + z : op == "Sub" ? x - z : op == "Mul" ? x * z : op == "Pow" ? std::pow(x, z) : x / z;
        y.f[size_t(k)] = float(v);
    });
    return y;
}

OnnxTensor unary(const OnnxTensor& a, const std::function<double(double)>& f) {
    OnnxTensor y = a;
    for (int64_t k = 0; k < y.numel(); ++k) set(y, k, f(a.at(k)));
    return y;
}

std::vector<int64_t> reduce_axes(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, int64_t opset, bool axes_as_input) {
    if (axes_as_input) return in.size() > 1 && in[1] ? ints_of(*in[1]) : std::vector<int64_t>{};
    (void)opset;
    return n.attr_ints("axes", {});
}

OnnxTensor reduce(const OnnxNode& n, const OnnxTensor& x, std::vector<int64_t> axes, bool mean) {
    const int64_t rank = int64_t(x.shape.size());
    const bool keep = n.attr_int("keepdims", 1) != 0;
    if (axes.empty()) {
        if (n.attr_int("noop_with_empty_axes", 0)) return x;
        for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    }
    std::vector<bool> reduced(size_t(rank), false);
    for (int64_t a : axes) reduced[size_t(norm_axis(a, rank, n))] = true;
    std::vector<int64_t> kept_shape;
    for (int64_t d = 0; d < rank; ++d) kept_shape.push_back(reduced[size_t(d)] ? 1 : x.shape[size_t(d)]);
    OnnxTensor y = make(x.type, kept_shape, n);
    std::vector<double> acc(size_t(y.numel()), 0.0);
    const auto out_str = strides_of(kept_shape);
    std::vector<int64_t> coord(size_t(rank), 0);
    for (int64_t k = 0; k < x.numel(); ++k) {
        int64_t o = 0;
        for (int64_t d = 0; d < rank; ++d) o += (reduced[size_t(d)] ? 0 : coord[size_t(d)]) * out_str[size_t(d)];
        acc[size_t(o)] += x.at(k);
        for (int64_t d = rank; d-- > 0;) {
            if (++coord[size_t(d)] < x.shape[size_t(d)]) break;
            coord[size_t(d)] = 0;
        }
    }
    const double count = y.numel() ? double(x.numel()) / double(y.numel()) : 1.0;
    for (int64_t k = 0; k < y.numel(); ++k) set(y, k, mean ? acc[size_t(k)] / count : acc[size_t(k)]);
    if (!keep) {
        y.shape.clear();
        for (int64_t d = 0; d < rank; ++d)
            if (!reduced[size_t(d)]) y.shape.push_back(x.shape[size_t(d)]);
    }
    return y;
}

OnnxTensor constant(const OnnxNode& n) {
    if (n.has("value")) {
        if (n.attributes.at("value").kind != OnnxAttribute::Kind::Tensor) fail(n, "attribute 'value' is not a tensor");
        return n.attributes.at("value").t;
    }
    OnnxTensor t;
    if (n.has("value_float")) t.f = {n.attr_float("value_float", 0)};
    else if (n.has("value_floats")) t.f = n.attributes.at("value_floats").floats, t.shape = {int64_t(t.f.size())};
    else if (n.has("value_int")) t.type = OnnxType::Int64, t.i = {n.attr_int("value_int", 0)};
    else if (n.has("value_ints")) t.type = OnnxType::Int64, t.i = n.attr_ints("value_ints", {}), t.shape = {int64_t(t.i.size())};
    else fail(n, "no value attribute this reader knows (value, value_float(s), value_int(s))");
    return t;
}

OnnxTensor reshape(const OnnxNode& n, const OnnxTensor& x, const OnnxTensor& shape_t) {
    std::vector<int64_t> shape = ints_of(shape_t);
    if (shape.size() > kMaxRank) fail(n, "a shape of rank " + std::to_string(shape.size()));
    const bool allowzero = n.attr_int("allowzero", 0) != 0;
    int64_t known = 1, infer = -1;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 0 && !allowzero) {
            if (d >= x.shape.size()) fail(n, "shape " + shape_to_string(shape) + " copies a dimension the input lacks");
            shape[d] = x.shape[d];
        }
        if (shape[d] == -1) {
            if (infer >= 0) fail(n, "shape " + shape_to_string(shape) + " has two -1");
            infer = int64_t(d);
        } else if (shape[d] < 0) {
            fail(n, "shape " + shape_to_string(shape) + " has a negative dimension");
        } else {
            if (shape[d] > kOnnxHostMaxElements || (shape[d] != 0 && known > kOnnxHostMaxElements / shape[d]))
                fail(n, "shape " + shape_to_string(shape) + " is too large");
            known *= shape[d];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x.numel() % known) fail(n, "cannot infer -1 in " + shape_to_string(shape) + " for " + shape_to_string(x.shape));
        shape[size_t(infer)] = x.numel() / known;
    }
    if (numel_of(shape, n) != x.numel())
        fail(n, "cannot reshape " + shape_to_string(x.shape) + " to " + shape_to_string(shape));
    OnnxTensor y = x;
    y.shape = shape;
    return y;
}

OnnxTensor slice(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, int64_t opset) {
    const OnnxTensor& x = need(n, in, 0);
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset < 10) {
        starts = n.attr_ints("starts", {}), ends = n.attr_ints("ends", {}), axes = n.attr_ints("axes", {});
    } else {
        starts = ints_of(need(n, in, 1)), ends = ints_of(need(n, in, 2));
        if (in.size() > 3 && in[3]) axes = ints_of(*in[3]);
        if (in.size() > 4 && in[4]) steps = ints_of(*in[4]);
    }
    const int64_t rank = int64_t(x.shape.size());
    if (axes.empty()) for (size_t k = 0; k < starts.size(); ++k) axes.push_back(int64_t(k));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        fail(n, "starts, ends, axes and steps differ in length");
    std::vector<int64_t> begin(size_t(rank), 0), step(size_t(rank), 1), out_shape = x.shape;
    for (size_t k = 0; k < starts.size(); ++k) {
        const int64_t a = norm_axis(axes[k], rank, n), dim = x.shape[size_t(a)];
        int64_t s = steps[k];
        if (s == 0) fail(n, "a step of 0");
        if (dim == 0) {
            out_shape[size_t(a)] = 0;
            continue;
        }
        s = std::clamp<int64_t>(s, -dim, dim);  // a larger step takes the same elements (one), and cannot overflow below
        // Clamp as the operator document says: negatives count from the end, then into range.
        auto clamp_index = [&](int64_t v, bool is_end) {
            if (v < 0) v = std::max<int64_t>(v, std::numeric_limits<int64_t>::min() + dim) + dim;
            if (s > 0) return std::clamp<int64_t>(v, 0, dim);
            return std::clamp<int64_t>(v, is_end ? -1 : 0, dim - 1);
        };
        const int64_t b = clamp_index(starts[k], false), e = clamp_index(ends[k], true);
        const int64_t len = s > 0 ? std::max<int64_t>(0, (e - b + s - 1) / s) : std::max<int64_t>(0, (b - e + (-s) - 1) / (-s));
        begin[size_t(a)] = b, step[size_t(a)] = s, out_shape[size_t(a)] = len;
    }
    OnnxTensor y = make(x.type, out_shape, n);
    const auto in_str = strides_of(x.shape);
    std::vector<int64_t> coord(size_t(rank), 0);
    for (int64_t k = 0; k < y.numel(); ++k) {
        int64_t src = 0;
        for (int64_t d = 0; d < rank; ++d) src += (begin[size_t(d)] + coord[size_t(d)] * step[size_t(d)]) * in_str[size_t(d)];
        copy_elem(y, k, x, src);
        for (int64_t d = rank; d-- > 0;) {
            if (++coord[size_t(d)] < out_shape[size_t(d)]) break;
            coord[size_t(d)] = 0;
        }
    }
    return y;
}

OnnxTensor transpose(const OnnxNode& n, const OnnxTensor& x) {
    const int64_t rank = int64_t(x.shape.size());
    std::vector<int64_t> perm = n.attr_ints("perm", {});
    if (perm.empty()) for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
    if (int64_t(perm.size()) != rank) fail(n, "perm has " + std::to_string(perm.size()) + " entries for a rank-" + std::to_string(rank) + " tensor");
    std::vector<int64_t> out_shape;
    std::vector<bool> seen(size_t(rank), false);
    for (int64_t& p : perm) {
        p = norm_axis(p, rank, n);
        if (seen[size_t(p)]) fail(n, "perm repeats an axis");
        seen[size_t(p)] = true;
        out_shape.push_back(x.shape[size_t(p)]);
    }
    OnnxTensor y = make(x.type, out_shape, n);
    const auto in_str = strides_of(x.shape);
    std::vector<int64_t> coord(size_t(rank), 0);
    for (int64_t k = 0; k < y.numel(); ++k) {
        int64_t src = 0;
        for (int64_t d = 0; d < rank; ++d) src += coord[size_t(d)] * in_str[size_t(perm[size_t(d)])];
        copy_elem(y, k, x, src);
        for (int64_t d = rank; d-- > 0;) {
            if (++coord[size_t(d)] < out_shape[size_t(d)]) break;
            coord[size_t(d)] = 0;
        }
    }
    return y;
}

OnnxTensor concat(const OnnxNode& n, const std::vector<const OnnxTensor*>& in) {
    const OnnxTensor& first = need(n, in, 0);
    const int64_t rank = int64_t(first.shape.size());
    const int64_t axis = norm_axis(n.attr_int("axis", 0), rank, n);
    std::vector<int64_t> out_shape = first.shape;
    out_shape[size_t(axis)] = 0;
    for (size_t k = 0; k < in.size(); ++k) {
        const OnnxTensor& t = need(n, in, k);
        if (int64_t(t.shape.size()) != rank || t.floating() != first.floating()) fail(n, "inputs differ in rank or type");
        for (int64_t d = 0; d < rank; ++d)
            if (d != axis && t.shape[size_t(d)] != first.shape[size_t(d)]) fail(n, "inputs differ outside the axis");
        out_shape[size_t(axis)] += t.shape[size_t(axis)];
    }
    OnnxTensor y = make(first.type, out_shape, n);
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[size_t(d)];
    int64_t k_out = 0;
    for (int64_t o = 0; o < outer; ++o)
        for (const OnnxTensor* t : in) {
            const int64_t chunk = t->numel() / std::max<int64_t>(outer, 1);
            for (int64_t j = 0; j < chunk; ++j) copy_elem(y, k_out++, *t, o * chunk + j);
        }
    return y;
}

std::vector<int64_t> axes_arg(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, int64_t opset) {
    if (opset >= 13) return in.size() > 1 && in[1] ? ints_of(*in[1]) : std::vector<int64_t>{};
    return n.attr_ints("axes", {});
}

OnnxTensor unsqueeze(const OnnxNode& n, const OnnxTensor& x, std::vector<int64_t> axes) {
    if (x.shape.size() + axes.size() > kMaxRank) fail(n, "a result of rank " + std::to_string(x.shape.size() + axes.size()));
    const int64_t rank = int64_t(x.shape.size() + axes.size());
    for (int64_t& a : axes) a = norm_axis(a, rank, n);
    std::sort(axes.begin(), axes.end());
    OnnxTensor y = x;
    for (int64_t a : axes) y.shape.insert(y.shape.begin() + a, 1);
    return y;
}

OnnxTensor squeeze(const OnnxNode& n, const OnnxTensor& x, std::vector<int64_t> axes) {
    const int64_t rank = int64_t(x.shape.size());
    std::vector<bool> drop(size_t(rank), false);
    if (axes.empty()) for (int64_t d = 0; d < rank; ++d) drop[size_t(d)] = x.shape[size_t(d)] == 1;
    for (int64_t a : axes) {
        const int64_t d = norm_axis(a, rank, n);
        if (x.shape[size_t(d)] != 1) fail(n, "cannot squeeze axis " + std::to_string(a) + " of " + shape_to_string(x.shape));
        drop[size_t(d)] = true;
    }
    OnnxTensor y = x;
    y.shape.clear();
    for (int64_t d = 0; d < rank; ++d)
        if (!drop[size_t(d)]) y.shape.push_back(x.shape[size_t(d)]);
    return y;
}

OnnxType cast_type(const OnnxNode& n) {
    switch (n.attr_int("to", 1)) {
        case 1: case 10: case 11: return OnnxType::Float;
        case 7: return OnnxType::Int64;
        case 6: return OnnxType::Int32;
        case 5: return OnnxType::Int16;
        case 3: return OnnxType::Int8;
        case 2: return OnnxType::UInt8;
        case 4: return OnnxType::UInt16;
        case 9: return OnnxType::Bool;
        default: fail(n, "cast to element type " + std::to_string(n.attr_int("to", 1)) + " is not supported");
    }
}

OnnxTensor cast(const OnnxNode& n, const OnnxTensor& x) {
    OnnxTensor y = make(cast_type(n), x.shape, n);
    for (int64_t k = 0; k < x.numel(); ++k) {
        if (!x.floating() && !y.floating()) {  // integers stay exact (held as int64 whatever their width)
            y.i[size_t(k)] = y.type == OnnxType::Bool ? int64_t(x.i[size_t(k)] != 0) : x.i[size_t(k)];
            continue;
        }
        double v = x.at(k);
        if (!y.floating()) {
            if (y.type == OnnxType::Bool) v = v != 0;
            else if (!std::isfinite(v) || std::fabs(v) > 9.2e18) fail(n, "a value does not fit the integer type");
            else v = std::trunc(v);
        }
        set(y, k, v);
    }
    return y;
}

// Per-tensor or per-axis (axis attribute, default 1) scale and zero point for element k of x.
struct QuantParams {
    const OnnxTensor* scale;
    const OnnxTensor* zero;
    int64_t axis_stride = 1, axis_len = 1;
    double scale_at(int64_t k) const { return scale->at(scale->numel() == 1 ? 0 : (k / axis_stride) % axis_len); }
    double zero_at(int64_t k) const { return zero ? zero->at(zero->numel() == 1 ? 0 : (k / axis_stride) % axis_len) : 0.0; }
};

QuantParams quant_params(const OnnxNode& n, const OnnxTensor& x, const std::vector<const OnnxTensor*>& in) {
    QuantParams q{&need(n, in, 1), in.size() > 2 ? in[2] : nullptr};
    if (q.scale->numel() < 1) fail(n, "an empty scale");
    if (q.zero && q.zero->numel() != q.scale->numel() && q.zero->numel() != 1) fail(n, "the zero point does not match the scale");
    if (q.scale->numel() != 1) {
        const int64_t rank = int64_t(x.shape.size()), axis = norm_axis(n.attr_int("axis", 1), rank, n);
        q.axis_len = x.shape[size_t(axis)];
        for (int64_t d = axis + 1; d < rank; ++d) q.axis_stride *= x.shape[size_t(d)];
        if (q.scale->numel() != q.axis_len || (q.zero && q.zero->numel() != q.axis_len && q.zero->numel() != 1))
            fail(n, "scale or zero point does not match the axis");
    }
    return q;
}

OnnxTensor dequantize(const OnnxNode& n, const std::vector<const OnnxTensor*>& in) {
    const OnnxTensor& x = need(n, in, 0);
    const QuantParams q = quant_params(n, x, in);
    OnnxTensor y = make(OnnxType::Float, x.shape, n);
    for (int64_t k = 0; k < x.numel(); ++k) y.f[size_t(k)] = float((x.at(k) - q.zero_at(k)) * q.scale_at(k));
    return y;
}

OnnxTensor quantize(const OnnxNode& n, const std::vector<const OnnxTensor*>& in) {
    const OnnxTensor& x = need(n, in, 0);
    const QuantParams q = quant_params(n, x, in);
    const OnnxType t = q.zero ? q.zero->type : OnnxType::UInt8;
    const double lo = t == OnnxType::Int8 ? -128 : 0, hi = t == OnnxType::Int8 ? 127 : 255;
    if (t != OnnxType::Int8 && t != OnnxType::UInt8) fail(n, "only int8 and uint8 quantization is supported");
    OnnxTensor y = make(t, x.shape, n);
    for (int64_t k = 0; k < x.numel(); ++k)
        // In float, as onnxruntime and the device's quantize_linear divide: the same ties round alike.
        y.i[size_t(k)] = int64_t(std::clamp(double(std::nearbyint(float(x.at(k)) / float(q.scale_at(k)))) + q.zero_at(k), lo, hi));
    return y;
}

OnnxTensor gather(const OnnxNode& n, const OnnxTensor& x, const OnnxTensor& idx) {
    const int64_t rank = int64_t(x.shape.size()), axis = norm_axis(n.attr_int("axis", 0), rank, n);
    std::vector<int64_t> out_shape(x.shape.begin(), x.shape.begin() + axis);
    out_shape.insert(out_shape.end(), idx.shape.begin(), idx.shape.end());
    out_shape.insert(out_shape.end(), x.shape.begin() + axis + 1, x.shape.end());
    OnnxTensor y = make(x.type, out_shape, n);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape[size_t(d)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[size_t(d)];
    const int64_t dim = x.shape[size_t(axis)];
    int64_t k = 0;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < idx.numel(); ++j) {
            int64_t g = int64_t(idx.at(j));
            if (g < -dim || g >= dim) fail(n, "index " + std::to_string(g) + " is outside 0.." + std::to_string(dim - 1));
            if (g < 0) g += dim;
            for (int64_t r = 0; r < inner; ++r) copy_elem(y, k++, x, (o * dim + g) * inner + r);
        }
    return y;
}

// Conv on the host (a style vector through 1x1 convolutions; the arbitrary-style predictor, a MobileNet
// with depthwise convolutions, run once per style picture): NCHW, weights (K, C/group, R, S), optional bias
// (K), strides, dilations, pads (top, left, bottom, right) or auto_pad VALID; sums in double.
OnnxTensor conv(const OnnxNode& n, const std::vector<const OnnxTensor*>& in) {
    const OnnxTensor &x = need(n, in, 0), &w = need(n, in, 1);
    const OnnxTensor* b = in.size() > 2 ? in[2] : nullptr;
    if (x.shape.size() != 4 || w.shape.size() != 4 || !x.floating() || !w.floating())
        fail(n, "input " + shape_to_string(x.shape) + " and weights " + shape_to_string(w.shape) + " must be 4-D float");
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t K = w.shape[0], Cg = w.shape[1], R = w.shape[2], S = w.shape[3];
    const int64_t group = n.attr_int("group", 1);
    if (group < 1 || C % group != 0 || K % group != 0 || Cg != C / group)
        fail(n, "weights " + shape_to_string(w.shape) + " with group " + std::to_string(group) + " do not fit input " + shape_to_string(x.shape));
    if (b && (b->numel() != K || !b->floating())) fail(n, "bias " + shape_to_string(b->shape) + " is not " + std::to_string(K) + " floats");
    const auto st = n.attr_ints("strides", {1, 1}), dl = n.attr_ints("dilations", {1, 1});
    std::vector<int64_t> pads = n.attr_ints("pads", {0, 0, 0, 0});
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID") fail(n, "auto_pad " + auto_pad + " is not supported (give pads)");
    if (auto_pad == "VALID") pads = {0, 0, 0, 0};
    if (st.size() != 2 || dl.size() != 2 || pads.size() != 4) fail(n, "strides, dilations or pads are not for a 2-D convolution");
    for (int64_t v : {st[0], st[1], dl[0], dl[1]})
        if (v < 1 || v > 64) fail(n, "a stride or dilation of " + std::to_string(v));
    for (int64_t v : pads)
        if (v < 0 || v > 1024) fail(n, "a pad of " + std::to_string(v));
    const int64_t P = (H + pads[0] + pads[2] - dl[0] * (R - 1) - 1) / st[0] + 1;
    const int64_t Q = (W + pads[1] + pads[3] - dl[1] * (S - 1) - 1) / st[1] + 1;
    if (P < 1 || Q < 1) fail(n, "the output of input " + shape_to_string(x.shape) + " would be empty");
    numel_of(w.shape, n);
    OnnxTensor y = make(OnnxType::Float, {N, K, P, Q}, n);
    if (double(y.numel()) * double(Cg) * double(R) * double(S) > 4.3e9)  // a small file must not ask for hours
        fail(n, "more than 4 G multiply-adds on the host");
    // Each output plane is summed in a row of doubles, one weight at a time over contiguous output columns
    // (the loop the compiler vectorises): every output still adds bias, then c, r, s in that order, so the
    // sums are those of the plain per-output loop, about 20x sooner on the predictor's MobileNet.
    const int64_t Kg = K / group;
    std::vector<double> acc(size_t(P * Q));
    for (int64_t nn = 0; nn < N; ++nn)
        for (int64_t k = 0; k < K; ++k) {
            std::fill(acc.begin(), acc.end(), b ? double(b->f[size_t(k)]) : 0.0);
            const int64_t c0 = (k / Kg) * Cg;
            for (int64_t c = 0; c < Cg; ++c)
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t s2 = 0; s2 < S; ++s2) {
                        const double wv = double(w.f[size_t(((k * Cg + c) * R + r) * S + s2)]);
                        const int64_t t = pads[1] - s2 * dl[1];  // column v = q * stride - t
                        const int64_t q_lo = t <= 0 ? 0 : (t + st[1] - 1) / st[1];
                        const int64_t q_hi = W - 1 + t < 0 ? 0 : std::min(Q, (W - 1 + t) / st[1] + 1);
                        for (int64_t p = 0; p < P; ++p) {
                            const int64_t h = p * st[0] - pads[0] + r * dl[0];
                            if (h < 0 || h >= H) continue;
                            const float* row = &x.f[size_t(((nn * C + c0 + c) * H + h) * W)];
                            double* a = &acc[size_t(p * Q)];
                            for (int64_t q = q_lo; q < q_hi; ++q) a[q] += wv * double(row[q * st[1] - t]);
                        }
                    }
            std::copy(acc.begin(), acc.end(), &y.f[size_t(nn * K + k) * size_t(P * Q)]);
        }
    return y;
}

// GlobalAveragePool: (N, C, d...) -> (N, C, 1...), the mean over the spatial dims.
OnnxTensor global_average_pool(const OnnxNode& n, const OnnxTensor& x) {
    if (x.shape.size() < 3 || !x.floating()) fail(n, "input " + shape_to_string(x.shape) + " is not a float (N, C, spatial...) tensor");
    std::vector<int64_t> out(x.shape.size(), 1);
    out[0] = x.shape[0], out[1] = x.shape[1];
    OnnxTensor y = make(OnnxType::Float, out, n);
    const int64_t planes = out[0] * out[1], inner = planes ? x.numel() / planes : 0;
    if (inner == 0) fail(n, "an empty spatial extent");
    for (int64_t p = 0; p < planes; ++p) {
        double acc = 0;
        for (int64_t k = 0; k < inner; ++k) acc += double(x.f[size_t(p * inner + k)]);
        y.f[size_t(p)] = float(acc / double(inner));
    }
    return y;
}

const std::vector<std::string> kHostOps = {
    "Identity", "Constant", "ConstantOfShape", "Shape", "Concat", "Reshape", "Slice", "Transpose", "Cast",
    "Unsqueeze", "Squeeze", "Gather", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Relu",
    "Sigmoid", "Clip", "ReduceSum", "ReduceMean", "DequantizeLinear", "QuantizeLinear", "Conv", "GlobalAveragePool"};

}  // namespace

bool onnx_host_op_known(const std::string& op) {
    return std::find(kHostOps.begin(), kHostOps.end(), op) != kHostOps.end();
}

std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const std::string& what) {
    const size_t r = std::max(a.size(), b.size());
    std::vector<int64_t> out(r);
    for (size_t d = 0; d < r; ++d) {
        const int64_t x = d < r - a.size() ? 1 : a[d - (r - a.size())];
        const int64_t y = d < r - b.size() ? 1 : b[d - (r - b.size())];
        if (x != y && x != 1 && y != 1)
            throw Error(what + ": shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " do not broadcast");
        out[d] = x == 1 ? y : x;
    }
    return out;
}

OnnxTensor host_scalar(float v) {
    OnnxTensor t;
    t.f = {v};
    return t;
}

std::vector<OnnxTensor> eval_host_node(const OnnxNode& n, const std::vector<const OnnxTensor*>& in, int64_t opset) {
    const std::string& op = n.op;
    if (op == "Constant") return {constant(n)};
    if (op == "Identity") return {need(n, in, 0)};
    if (op == "ConstantOfShape") {
        const std::vector<int64_t> shape = ints_of(need(n, in, 0));
        if (n.has("value") && n.attributes.at("value").kind != weights::OnnxAttribute::Kind::Tensor) fail(n, "attribute 'value' is not a tensor");
        OnnxTensor value = n.has("value") ? n.attributes.at("value").t : host_scalar(0.0f);
        scalar_of(n, value, "value");
        OnnxTensor y = make(value.type, shape, n);
        for (int64_t k = 0; k < y.numel(); ++k) copy_elem(y, k, value, 0);
        return {y};
    }
    if (op == "Shape") {
        const OnnxTensor& x = need(n, in, 0);
        const int64_t rank = int64_t(x.shape.size());
        int64_t b = n.attr_int("start", 0), e = n.attr_int("end", rank);
        b = std::clamp<int64_t>(b < 0 ? b + rank : b, 0, rank), e = std::clamp<int64_t>(e < 0 ? e + rank : e, 0, rank);
        OnnxTensor y;
        y.type = OnnxType::Int64;
        for (int64_t d = b; d < e; ++d) y.i.push_back(x.shape[size_t(d)]);
        y.shape = {int64_t(y.i.size())};
        return {y};
    }
    if (op == "Concat") return {concat(n, in)};
    if (op == "Reshape") return {reshape(n, need(n, in, 0), need(n, in, 1))};
    if (op == "Slice") return {slice(n, in, opset)};
    if (op == "Transpose") return {transpose(n, need(n, in, 0))};
    if (op == "Cast") return {cast(n, need(n, in, 0))};
    if (op == "Unsqueeze") return {unsqueeze(n, need(n, in, 0), axes_arg(n, in, opset))};
    if (op == "Squeeze") return {squeeze(n, need(n, in, 0), axes_arg(n, in, opset))};
    if (op == "Gather") return {gather(n, need(n, in, 0), need(n, in, 1))};
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow") return {binary(n, need(n, in, 0), need(n, in, 1))};
    if (op == "Sqrt") return {unary(need(n, in, 0), [](double v) { return std::sqrt(v); })};
    if (op == "Reciprocal") return {unary(need(n, in, 0), [](double v) { return 1.0 / v; })};
    if (op == "Neg") return {unary(need(n, in, 0), [](double v) { return -v; })};
    if (op == "Relu") return {unary(need(n, in, 0), [](double v) { return v > 0 ? v : 0.0; })};
    if (op == "Sigmoid") return {unary(need(n, in, 0), [](double v) { return 1.0 / (1.0 + std::exp(-v)); })};
    if (op == "Clip") {
        double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
        if (opset < 11) lo = n.attr_float("min", -3.4e38f), hi = n.attr_float("max", 3.4e38f);
        if (opset >= 11 && in.size() > 1 && in[1]) lo = scalar_of(n, *in[1], "min");
        if (opset >= 11 && in.size() > 2 && in[2]) hi = scalar_of(n, *in[2], "max");
        return {unary(need(n, in, 0), [=](double v) { return std::min(std::max(v, lo), hi); })};
    }
    if (op == "ReduceSum") return {reduce(n, need(n, in, 0), reduce_axes(n, in, opset, opset >= 13), false)};
    if (op == "ReduceMean") return {reduce(n, need(n, in, 0), reduce_axes(n, in, opset, opset >= 18), true)};
    if (op == "DequantizeLinear") return {dequantize(n, in)};
    if (op == "QuantizeLinear") return {quantize(n, in)};
    if (op == "Conv") return {conv(n, in)};
    if (op == "GlobalAveragePool") return {global_average_pool(n, need(n, in, 0))};
    fail(n, "this operator is not supported");
}

std::map<std::string, OnnxTensor> eval_host_graph(const weights::OnnxModel& model, const std::map<std::string, OnnxTensor>& inputs) {
    std::map<std::string, OnnxTensor> values = model.initializers;
    for (const auto& v : model.inputs) {
        auto it = inputs.find(v.name);
        if (it == inputs.end()) throw Error(model.file + ": input '" + v.name + "' was not given");
        const OnnxTensor& t = it->second;
        bool fits = t.shape.size() == v.dims.size() && t.floating() == weights::is_float(v.type);
        for (size_t d = 0; fits && d < v.dims.size(); ++d) fits = v.dims[d] < 0 || v.dims[d] == t.shape[d];
        if (!fits) throw Error(model.file + ": input '" + v.name + "' must be " + shape_to_string(v.dims) + ", got " + shape_to_string(t.shape));
        values[v.name] = t;
    }
    for (const OnnxNode& n : model.nodes) {
        std::vector<const OnnxTensor*> in;
        for (const auto& name : n.inputs) {
            if (name.empty()) {
                in.push_back(nullptr);
                continue;
            }
            auto it = values.find(name);
            if (it == values.end()) throw Error(model.file + ": " + n.label() + ": input '" + name + "' is never made");
            in.push_back(&it->second);
        }
        std::vector<OnnxTensor> out;
        try {
            out = eval_host_node(n, in, model.opset);
        } catch (const Error& e) {
            const std::string what = e.what();
            throw Error(what.rfind(model.file, 0) == 0 ? what : model.file + ": " + what);
        }
        for (size_t j = 0; j < n.outputs.size() && j < out.size(); ++j) values[n.outputs[j]] = std::move(out[j]);
    }
    std::map<std::string, OnnxTensor> outputs;
    for (const auto& o : model.outputs) {
        auto it = values.find(o.name);
        if (it == values.end()) throw Error(model.file + ": output '" + o.name + "' is never made");
        outputs[o.name] = it->second;
    }
    return outputs;
}

}  // namespace nst
