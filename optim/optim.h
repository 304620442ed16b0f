// Optimizers for the style-transfer image, running on whatever device holds it, with every scalar of
// their arithmetic kept in device memory: a step issues kernels and never waits for the host.
//
// Both follow the structure of neural-style (Torch7 optim): `begin` evaluates the objective at the
// start point (evaluation 1), then each `step` updates x from the last gradient and, unless it is the
// final step, evaluates again. N iterations therefore make N updates and N evaluations, and evaluation
// k is what neural-style prints as "Iteration k".
//
// Lbfgs is Torch7's optim.lbfgs (Nocedal's two-loop recursion, history of `history` pairs, fixed step:
// t = min(1, 1/‖g‖₁)·lr on the first iteration, lr afterwards; tolerances off, as neural-style sets
// them) with an optional strong-Wolfe line search (that one reads f and gᵀd on the host at each trial).
// Adam is Torch7's optim.adam. State can be saved and restored exactly (checkpoints).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace nst {

// Evaluates the objective at x: writes ∂f/∂x into g and returns f as a one-element tensor on x's device.
using Objective_fn = std::function<Tensor(const Tensor& x, Tensor& g)>;

// Named tensors and numbers: what a checkpoint holds of an optimizer.
struct OptimizerState {
    std::map<std::string, Tensor> tensors;  // on the optimizer's device
    std::map<std::string, double> numbers;
    // Set when the state is one rank's of several (stylize/sharded_optimizer.h): every tensor of more than
    // one element is then this rank's share of a vector of `whole_length` values, and gather_whole(share), a
    // collective (every rank calls it for the same tensors in the same order), returns the whole vector in
    // host memory, valid until the next call. A checkpoint is written through it a tensor at a time, so no
    // rank ever holds the whole state.
    std::function<const float*(const Tensor& share)> gather_whole;
    int64_t whole_length = 0;
};

class Optimizer {
  public:
    virtual ~Optimizer() = default;
    virtual void begin(Tensor& x, const Objective_fn& f) = 0;
    // One update; then, if `evaluate`, one evaluation at the new point.
    virtual void step(Tensor& x, const Objective_fn& f, bool evaluate) = 0;
    const Tensor& loss() const { return f_; }      // at the last evaluation
    const Tensor& gradient() const { return g_; }  // at the last evaluation
    int evaluations() const { return evals_; }
    virtual OptimizerState save() const = 0;
    virtual void load(const OptimizerState& s) = 0;
    virtual std::string name() const = 0;

  protected:
    void evaluate(const Tensor& x, const Objective_fn& f);
    Tensor f_, g_;
    int evals_ = 0;
};

struct LbfgsOptions {
    int history = 100;             // --lbfgs-num-correction
    double learning_rate = 1.0;    // neural-style's fixed step
    bool line_search = false;      // strong Wolfe (c1 = 1e-4, c2 = 0.9)
    bool reserve = false;          // write every history slot at the start (see the constructor)
    // When x is one shard of a vector spread over processes (mpirun stylize): each of the optimiser's
    // sums over x (the dot products and the first step's |g|_1) goes through this, which must return the
    // sum over every shard, the same bits on every process (dist::sum_in_rank_order). Every other
    // operation is element-wise, so the shards then step exactly as the whole vector would.
    std::function<double(double)> sum_over_shards;
};
std::unique_ptr<Optimizer> make_lbfgs(int64_t n, Device device, const LbfgsOptions& o);

struct AdamOptions {
    double learning_rate = 10.0;  // neural-style's default for 0..255 images
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};
std::unique_ptr<Optimizer> make_adam(int64_t n, Device device, const AdamOptions& o);

}  // namespace nst
