// L-BFGS and Adam on device scalars (contract in optim.h).
#include "optim/optim.h"

#include <cstdint>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/blas.h"
#include "core/dispatch.h"

namespace nst {

void Optimizer::evaluate(const Tensor& x, const Objective_fn& f) {
    f_ = f(x, g_);
    ++evals_;
}

namespace {

float* p(const Tensor& t) { return t.data<float>(); }

// A number of a saved state, with a clear error when a checkpoint lacks it.
double number(const OptimizerState& st, const std::string& key) {
    auto it = st.numbers.find(key);
    if (it == st.numbers.end()) throw Error("checkpoint lacks optimizer value '" + key + "'");
    return it->second;
}
Tensor scalar(Device d) { return Tensor::zeros({}, DType::F32, d); }

class Lbfgs : public Optimizer {
  public:
    Lbfgs(int64_t n, Device d, const LbfgsOptions& o) : n_(n), dev_(d), o_(o), k_(optim_kernels(d)), b_(blas1_kernels(d)) {
        if (o.history < 1) throw Error("--lbfgs-num-correction must be at least 1");
        g_ = Tensor::zeros({n}, DType::F32, d);
        g_old_ = Tensor::zeros({n}, DType::F32, d);
        dir_ = Tensor::zeros({n}, DType::F32, d);
        q_ = Tensor::zeros({n}, DType::F32, d);
        // The pairs are allocated up front (no allocation in the loop, on any device) but not written: on
        // the CPU their pages are untouched until a pair is stored, so a run's resident memory grows with
        // the pairs it has (as PyTorch's list does) instead of holding 2 x history images from the start
        // (400 MiB at 512 px). Only the first pairs_ slots are ever read. `reserve` writes them all now: the
        // memory a full history needs is then taken (or refused) at the start, not hours into a run.
        for (int i = 0; i < o.history; ++i) {
            s_.push_back(o.reserve ? Tensor::zeros({n}, DType::F32, d) : Tensor::empty({n}, DType::F32, d));
            y_.push_back(o.reserve ? Tensor::zeros({n}, DType::F32, d) : Tensor::empty({n}, DType::F32, d));
            ro_.push_back(scalar(d));
            al_.push_back(scalar(d));
        }
        t_ = scalar(d);
        lr_ = Tensor::full({}, o.learning_rate, DType::F32, d);  // copied on the device each iteration
        hdiag_ = Tensor::full({}, 1.0, DType::F32, d);
        tmp_ = scalar(d);
        tmp2_ = scalar(d);
    }
    std::string name() const override { return "lbfgs"; }

    void begin(Tensor& x, const Objective_fn& f) override { evaluate(x, f); }

    void step(Tensor& x, const Objective_fn& f, bool evaluate_after) override {
        ++iter_;
        if (iter_ == 1) {
            // d = -g; t = min(1, 1/|g|_1) * lr
            dir_.copy_(g_);
            b_.scal(n_, -1.f, p(dir_));
            k_.asum(p(g_), n_, p(tmp_));
            over_shards(tmp_);
            k_.lbfgs_first_step(p(tmp_), float(o_.learning_rate), p(t_));
        } else {
            // New pair: y = g - g_old, s = t d (the step just taken); slot = oldest.
            const int slot = int((iter_ - 2) % o_.history);
            Tensor& y = y_[size_t(slot)];
            Tensor& s = s_[size_t(slot)];
            y.copy_(g_);
            b_.axpy(n_, -1.f, p(g_old_), p(y));
            s.copy_(dir_);
            k_.scal_s(n_, p(t_), p(s));
            b_.dot(p(y), p(s), n_, p(tmp_));   // ys
            over_shards(tmp_);
            b_.dot(p(y), p(y), n_, p(tmp2_));  // yy
            over_shards(tmp2_);
            k_.lbfgs_pair(p(tmp_), p(tmp2_), p(ro_[size_t(slot)]), p(hdiag_));
            pairs_ = std::min(pairs_ + 1, o_.history);
            // Two-loop recursion, newest pair first: q = -g; q -= al_i y_i; r = hdiag q; r += (al_i - be_i) s_i.
            q_.copy_(g_);
            b_.scal(n_, -1.f, p(q_));
            for (int j = 0; j < pairs_; ++j) {
                const size_t i = size_t((slot - j + o_.history) % o_.history);
                b_.dot(p(s_[i]), p(q_), n_, p(tmp_));
                over_shards(tmp_);
                k_.scalar_mul(p(tmp_), p(ro_[i]), p(al_[i]));
                k_.axpy_s(n_, p(al_[i]), -1.f, p(y_[i]), p(q_));
            }
            k_.scal_s(n_, p(hdiag_), p(q_));
            for (int j = pairs_ - 1; j >= 0; --j) {
                const size_t i = size_t((slot - j + o_.history) % o_.history);
                b_.dot(p(y_[i]), p(q_), n_, p(tmp_));
                over_shards(tmp_);
                k_.scalar_mul(p(tmp_), p(ro_[i]), p(tmp2_));          // be_i
                k_.scalar_sub(p(al_[i]), p(tmp2_), p(tmp_));          // al_i - be_i
                k_.axpy_s(n_, p(tmp_), 1.f, p(s_[i]), p(q_));
            }
            dir_.copy_(q_);
            t_.copy_(lr_);
        }
        g_old_.copy_(g_);
        if (o_.line_search) {  // evaluates at its trial points, ending at the accepted one
            line_search(x, f);
            return;
        }
        k_.axpy_s(n_, p(t_), 1.f, p(dir_), p(x));  // x += t d
        if (evaluate_after) evaluate(x, f);
    }

    OptimizerState save() const override {
        OptimizerState st;
        st.tensors["g"] = g_;
        st.tensors["g_old"] = g_old_;
        st.tensors["dir"] = dir_;
        st.tensors["t"] = t_;
        st.tensors["hdiag"] = hdiag_;
        st.tensors["f"] = f_;
        for (int i = 0; i < pairs_; ++i) {  // slots [0, pairs_) hold the pairs (filled in order, then reused)
            st.tensors["s." + std::to_string(i)] = s_[size_t(i)];
            st.tensors["y." + std::to_string(i)] = y_[size_t(i)];
            st.tensors["ro." + std::to_string(i)] = ro_[size_t(i)];
        }
        st.numbers["iter"] = iter_;
        st.numbers["pairs"] = pairs_;
        st.numbers["evals"] = evals_;
        st.numbers["history"] = o_.history;
        return st;
    }

    void load(const OptimizerState& st) override {
        if (int(number(st, "history")) != o_.history)
            throw Error("checkpoint was made with --lbfgs-num-correction " + std::to_string(int(number(st, "history"))));
        auto get = [&](const std::string& k, Tensor& dst) {
            auto it = st.tensors.find(k);
            if (it == st.tensors.end()) throw Error("checkpoint lacks L-BFGS state '" + k + "'");
            if (it->second.shape() != dst.shape()) throw Error("checkpoint L-BFGS state '" + k + "' has the wrong shape");
            dst.copy_(it->second);
        };
        get("g", g_);
        get("g_old", g_old_);
        get("dir", dir_);
        get("t", t_);
        get("hdiag", hdiag_);
        f_ = scalar(dev_);
        get("f", f_);
        iter_ = int(number(st, "iter"));
        pairs_ = int(number(st, "pairs"));
        // Step k stores pair k - 1 (from the second step on), so k steps hold min(k - 1, history) pairs; any
        // other count would make the recursion read slots that were never written.
        const int expected = std::min(std::max(iter_ - 1, 0), o_.history);
        if (pairs_ != expected)
            throw Error("checkpoint L-BFGS state has " + std::to_string(pairs_) + " pairs after " + std::to_string(iter_) +
                        " iterations (expected " + std::to_string(expected) + ")");
        for (int i = 0; i < pairs_; ++i) {
            get("s." + std::to_string(i), s_[size_t(i)]);
            get("y." + std::to_string(i), y_[size_t(i)]);
            get("ro." + std::to_string(i), ro_[size_t(i)]);
        }
        evals_ = int(number(st, "evals"));
    }

  private:
    // A device scalar summed over the shards (a read to the host and back: MPI has the host's memory).
    void over_shards(Tensor& s) const {
        if (o_.sum_over_shards) s.fill_(o_.sum_over_shards(s.item()));
    }

    // Strong Wolfe conditions by bracketing and zooming with safeguarded cubic interpolation
    // (Nocedal & Wright, algorithms 3.5 and 3.6). Reads f and gᵀd on the host at every trial point.
    void line_search(Tensor& x, const Objective_fn& f) {
        const double c1 = 1e-4, c2 = 0.9;
        const Tensor x0 = x.clone();
        const double f0 = f_.item();
        b_.dot(p(g_), p(dir_), n_, p(tmp_));
        over_shards(tmp_);
        const double d0 = tmp_.item();
        if (!(d0 < 0)) {  // not a descent direction: restart from steepest descent
            dir_.copy_(g_);
            b_.scal(n_, -1.f, p(dir_));
            b_.dot(p(g_), p(dir_), n_, p(tmp_));
            over_shards(tmp_);
        }
        const double gtd0 = tmp_.item();
        auto phi = [&](double a, double& fa, double& da) {
            x.copy_(x0);
            b_.axpy(n_, float(a), p(dir_), p(x));
            evaluate(x, f);
            fa = f_.item();
            b_.dot(p(g_), p(dir_), n_, p(tmp_));
            over_shards(tmp_);
            da = tmp_.item();
        };
        auto cubic = [](double a, double fa, double da, double b, double fb, double db) {
            const double d1 = da + db - 3 * (fa - fb) / (a - b);
            const double disc = d1 * d1 - da * db;
            if (disc < 0) return (a + b) / 2;
            const double d2 = std::copysign(std::sqrt(disc), b - a);
            const double m = b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2);
            const double lo = std::min(a, b), hi = std::max(a, b);
            return std::clamp(m, lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo));
        };
        double a_prev = 0, f_prev = f0, d_prev = gtd0;
        double a = t_.item();
        double fa = 0, da = 0;
        for (int it = 0; it < 25; ++it) {
            phi(a, fa, da);
            if (fa > f0 + c1 * a * gtd0 || (it > 0 && fa >= f_prev)) return zoom(f0, gtd0, a_prev, f_prev, d_prev, a, fa, da, cubic, phi);
            if (std::abs(da) <= -c2 * gtd0) return t_.fill_(a), void();
            if (da >= 0) return zoom(f0, gtd0, a, fa, da, a_prev, f_prev, d_prev, cubic, phi);
            a_prev = a, f_prev = fa, d_prev = da;
            a *= 2;
        }
        t_.fill_(a);
    }

    template <class Cubic, class Phi>
    void zoom(double f0, double gtd0, double lo, double flo, double dlo, double hi, double fhi, double dhi, Cubic cubic,
              Phi phi) {
        const double c1 = 1e-4, c2 = 0.9;
        double a = lo, fa = flo, da = dlo;
        for (int it = 0; it < 25 && std::abs(hi - lo) > 1e-9 * std::max(1.0, std::abs(lo)); ++it) {
            a = cubic(lo, flo, dlo, hi, fhi, dhi);
            phi(a, fa, da);
            if (fa > f0 + c1 * a * gtd0 || fa >= flo) {
                hi = a, fhi = fa, dhi = da;
            } else {
                if (std::abs(da) <= -c2 * gtd0) break;
                if (da * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
                lo = a, flo = fa, dlo = da;
            }
        }
        if (fa > flo) phi(lo, fa, da), a = lo;  // end on the best point found
        t_.fill_(a);
    }

    int64_t n_;
    Device dev_;
    LbfgsOptions o_;
    const OptimVariant& k_;
    const Blas1Variant& b_;
    Tensor g_old_, dir_, q_, t_, lr_, hdiag_, tmp_, tmp2_;
    std::vector<Tensor> s_, y_, ro_, al_;
    int iter_ = 0, pairs_ = 0;
};

class Adam : public Optimizer {
  public:
    Adam(int64_t n, Device d, const AdamOptions& o) : n_(n), o_(o), k_(optim_kernels(d)) {
        g_ = Tensor::zeros({n}, DType::F32, d);
        m_ = Tensor::zeros({n}, DType::F32, d);
        v_ = Tensor::zeros({n}, DType::F32, d);
    }
    std::string name() const override { return "adam"; }
    void begin(Tensor& x, const Objective_fn& f) override { evaluate(x, f); }
    void step(Tensor& x, const Objective_fn& f, bool evaluate_after) override {
        ++t_;
        k_.adam_step(n_, p(x), p(g_), p(m_), p(v_), float(o_.learning_rate), float(o_.beta1), float(o_.beta2),
                     float(o_.eps), t_);
        if (evaluate_after) evaluate(x, f);
    }
    OptimizerState save() const override {
        OptimizerState st;
        st.tensors = {{"g", g_}, {"m", m_}, {"v", v_}, {"f", f_}};
        st.numbers = {{"t", t_}, {"evals", evals_}};
        return st;
    }
    void load(const OptimizerState& st) override {
        for (auto [k, dst] : {std::pair<const char*, Tensor*>{"g", &g_}, {"m", &m_}, {"v", &v_}}) {
            auto it = st.tensors.find(k);
            if (it == st.tensors.end() || it->second.shape() != dst->shape()) throw Error(std::string("checkpoint lacks Adam state '") + k + "'");
            dst->copy_(it->second);
        }
        auto f = st.tensors.find("f");
        if (f == st.tensors.end() || f->second.numel() != 1) throw Error("checkpoint lacks Adam state 'f'");
        f_ = Tensor::zeros({}, DType::F32, g_.device());
        f_.copy_(f->second);
        t_ = int(number(st, "t"));
        evals_ = int(number(st, "evals"));
    }

  private:
    int64_t n_;
    AdamOptions o_;
    const OptimVariant& k_;
    Tensor m_, v_;
    int t_ = 0;
};

}  // namespace

std::unique_ptr<Optimizer> make_lbfgs(int64_t n, Device device, const LbfgsOptions& o) { return std::make_unique<Lbfgs>(n, device, o); }
std::unique_ptr<Optimizer> make_adam(int64_t n, Device device, const AdamOptions& o) { return std::make_unique<Adam>(n, device, o); }

}  // namespace nst
