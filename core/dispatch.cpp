// Variant selection (contract in dispatch.h).
#include "core/dispatch.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>

#include "base/error.h"

namespace nst {

namespace {

const char* const kOps[] = {"conv2d", "relu", "max_pool", "avg_pool", "gram", "vector", "blas1", "optim", "feedforward"};

void check_op(const std::string& op) {
    for (const char* o : kOps)
        if (op == o) return;
    throw Error("unknown op '" + op + "' (known: conv2d, relu, max_pool, avg_pool, gram, vector, blas1, optim, feedforward)");
}

struct Settings {
    std::mutex mu;
    Backend backend = Backend::Own;
    std::map<std::string, std::string> pins;
    Settings() {
        if (const char* b = std::getenv("NST_BACKEND"); b && *b) backend = parse_backend(b);
        if (const char* k = std::getenv("NST_KERNELS"); k && *k) {
            std::stringstream ss(k);
            std::string item;
            while (std::getline(ss, item, ',')) {
                const auto eq = item.find('=');
                if (eq == std::string::npos)
                    throw Error("NST_KERNELS: expected op=variant pairs separated by commas, got '" + item + "'");
                check_op(item.substr(0, eq));
                pins[item.substr(0, eq)] = item.substr(eq + 1);
            }
        }
    }
};
Settings& settings() {
    static Settings s;
    return s;
}

template <class V> const V& select(std::span<const V> table, const char* op, Device d) {
    if (table.empty())
        throw Error(std::string(op) + ": no kernels for " + d.str() + (d.is_cuda() ? " (this build has no CUDA)" : ""));
    Settings& s = settings();
    std::lock_guard<std::mutex> lock(s.mu);
    if (auto it = s.pins.find(op); it != s.pins.end() && !it->second.empty()) {
        std::string names;
        for (const V& v : table) {
            if (it->second == v.name) return v;
            names += std::string(names.empty() ? "" : ", ") + v.name;
        }
        // A pin names a variant of one device; on another device the default applies.
        bool other_device_has_it = false;
        for (DeviceKind k : {DeviceKind::CPU, DeviceKind::CUDA})
            for (const std::string& n : variant_names(op, k)) other_device_has_it |= (n == it->second);
        if (!other_device_has_it && it->second == "cudnn" && !built_with_cudnn())
            throw Error(std::string(op) + ": variant 'cudnn' is unavailable: " + cudnn_absence() + " (have: " + names + ")");
        if (!other_device_has_it)
            throw Error(std::string(op) + ": no variant named '" + it->second + "' on " + d.str() + " (have: " + names + ")");
    }
    if (s.backend == Backend::Library)
        for (const V& v : table)
            if (v.library) return v;
    if (const char* name = default_variant(op, d.kind))
        for (const V& v : table)
            if (v.name == std::string_view(name)) return v;
    for (const V& v : table)
        if (!v.library) return v;
    return table.front();
}

template <class V> std::vector<std::string> names_of(std::span<const V> table) {
    std::vector<std::string> r;
    for (const V& v : table) r.push_back(v.name);
    return r;
}

}  // namespace

Backend backend() {
    std::lock_guard<std::mutex> lock(settings().mu);
    return settings().backend;
}
void set_backend(Backend b) {
    std::lock_guard<std::mutex> lock(settings().mu);
    settings().backend = b;
}
Backend parse_backend(const std::string& name) {
    if (name == "own") return Backend::Own;
    if (name == "library" || name == "cudnn" || name == "cublas") return Backend::Library;
    throw Error("unknown backend '" + name + "' (use 'own' or 'library'/'cudnn')");
}

void set_variant(const std::string& op, const std::string& variant) {
    check_op(op);
    std::lock_guard<std::mutex> lock(settings().mu);
    if (variant.empty())
        settings().pins.erase(op);
    else
        settings().pins[op] = variant;
}
std::string pinned_variant(const std::string& op) {
    std::lock_guard<std::mutex> lock(settings().mu);
    auto it = settings().pins.find(op);
    return it == settings().pins.end() ? "" : it->second;
}

ScopedVariant::ScopedVariant(std::string op, const std::string& variant) : op_(std::move(op)) {
    prev_ = pinned_variant(op_);
    set_variant(op_, variant);
}
ScopedVariant::~ScopedVariant() { set_variant(op_, prev_); }

const Conv2dVariant& conv2d_kernels(Device d) { return select(conv2d_variants(d.kind), "conv2d", d); }
const ReluVariant& relu_kernels(Device d) { return select(relu_variants(d.kind), "relu", d); }
const PoolVariant& max_pool_kernels(Device d) { return select(max_pool_variants(d.kind), "max_pool", d); }
const PoolVariant& avg_pool_kernels(Device d) { return select(avg_pool_variants(d.kind), "avg_pool", d); }
const GramVariant& gram_kernels(Device d) { return select(gram_variants(d.kind), "gram", d); }
const VectorVariant& vector_kernels(Device d) { return select(vector_variants(d.kind), "vector", d); }
const Blas1Variant& blas1_kernels(Device d) { return select(blas1_variants(d.kind), "blas1", d); }
const OptimVariant& optim_kernels(Device d) { return select(optim_variants(d.kind), "optim", d); }
const FeedForwardVariant& feedforward_kernels(Device d) { return select(feedforward_variants(d.kind), "feedforward", d); }

std::vector<std::string> variant_names(const std::string& op, DeviceKind d) {
    check_op(op);
    if (op == "conv2d") return names_of(conv2d_variants(d));
    if (op == "relu") return names_of(relu_variants(d));
    if (op == "max_pool") return names_of(max_pool_variants(d));
    if (op == "avg_pool") return names_of(avg_pool_variants(d));
    if (op == "gram") return names_of(gram_variants(d));
    if (op == "vector") return names_of(vector_variants(d));
    if (op == "blas1") return names_of(blas1_variants(d));
    if (op == "feedforward") return names_of(feedforward_variants(d));
    return names_of(optim_variants(d));
}

}  // namespace nst
