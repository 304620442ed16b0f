// The optimiser over one rank's share of the image (contract in sharded_optimizer.h).
#include "stylize/sharded_optimizer.h"

#include <cstring>

#include "base/error.h"

namespace nst {

namespace {

class Sharded final : public Optimizer {
  public:
    Sharded(dist::Communicator& ranks, int64_t n, Device device, std::unique_ptr<Optimizer> inner)
        : ranks_(ranks), n_(n), share_(dist::share_of(n, ranks.rank(), ranks.size())), dev_(device),
          inner_(std::move(inner)), host_(Tensor::empty({n})) {
        // Which saved tensors are shares is told by their length (not one element): every rank must
        // decide alike, so no share may be a single element.
        if (n < 2 * int64_t(ranks.size())) throw Error("an image of " + std::to_string(n) + " values is too small for " +
                                                       std::to_string(ranks.size()) + " ranks");
        x_local_ = Tensor::zeros({local()}, DType::F32, device);
        g_ = Tensor::zeros({n}, DType::F32, device);
    }
    std::string name() const override { return inner_->name(); }

    void begin(Tensor& x, const Objective_fn& f) override {
        take_share(x);
        inner_->begin(x_local_, on_share(x, f));
        sync();
    }

    void step(Tensor& x, const Objective_fn& f, bool evaluate_after) override {
        if (!has_share_) take_share(x);  // after load(): the checkpoint's x; else x_local_ is x's share already
        const int evaluations = inner_->evaluations();
        inner_->step(x_local_, on_share(x, f), evaluate_after);
        // A step that evaluated ended at its new point (optim.h), where on_share has gathered x already;
        // one that did not (the last) gathers it here.
        if (inner_->evaluations() == evaluations) gather(x_local_, x);
        sync();
    }

    // The shares as they are: the checkpoint writer gathers them a tensor at a time (optim.h), so no rank
    // holds the whole state.
    OptimizerState save() const override {
        OptimizerState st = inner_->save();
        st.whole_length = n_;
        st.gather_whole = [this](const Tensor& share) -> const float* {
            gather_to_host(share);
            return host_.data<float>();
        };
        return st;
    }

    void load(const OptimizerState& whole) override {
        OptimizerState st = whole;
        for (auto& [key, t] : st.tensors)
            if (t.numel() == n_) t = share_of(t);  // (a share already, as load_checkpoint reads it: kept)
        inner_->load(st);
        has_share_ = false;  // x is the checkpoint's, given at the next step
        sync();
    }

  private:
    int64_t local() const { return share_.end - share_.begin; }

    // The objective as the inner optimiser sees it: x's share in, the gradient's share out.
    Objective_fn on_share(Tensor& x, const Objective_fn& f) {
        return [this, &x, &f](const Tensor& x_local, Tensor& g_local) {
            gather(x_local, x);
            Tensor loss = f(x, g_);
            g_local.copy_(share_of(g_));
            return loss;
        };
    }

    // Every rank's share (this rank's: local) into host_, on every rank: one all-gather.
    void gather_to_host(const Tensor& local) const {
        const Tensor l = local.cpu();
        std::memcpy(host_.data<float>() + share_.begin, l.data<float>(), size_t(local.numel()) * sizeof(float));
        ranks_.all_gather(host_.data<float>(), n_);
    }
    // The same into whole (any shape of n_ elements, on any device).
    void gather(const Tensor& local, Tensor& whole) const {
        gather_to_host(local);
        whole.copy_(host_.reshape(whole.shape()));
    }

    // This rank's share of a whole vector (any shape of n_ elements), on the device.
    Tensor share_of(const Tensor& whole) const {
        const Tensor w = whole.cpu();
        std::vector<float> part(w.data<float>() + share_.begin, w.data<float>() + share_.end);
        return Tensor::from_vector(part, {local()}, dev_);
    }

    void take_share(const Tensor& x) {
        x_local_.copy_(share_of(x));
        has_share_ = true;
    }
    void sync() {
        f_ = inner_->loss();
        evals_ = inner_->evaluations();
    }

    dist::Communicator& ranks_;
    int64_t n_;
    dist::Share share_;
    Device dev_;
    std::unique_ptr<Optimizer> inner_;
    Tensor host_;  // n_ floats on the host: the all-gather's buffer
    Tensor x_local_;
    bool has_share_ = false;  // whether x_local_ holds x's share (not before begin, nor after load)
};

}  // namespace

std::unique_ptr<Optimizer> make_sharded(dist::Communicator& ranks, int64_t n, Device device,
                                        const std::function<std::unique_ptr<Optimizer>(int64_t)>& make) {
    const dist::Share s = dist::share_of(n, ranks.rank(), ranks.size());
    return std::make_unique<Sharded>(ranks, n, device, make(s.end - s.begin));
}

}  // namespace nst
