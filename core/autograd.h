// Reverse-mode automatic differentiation, small enough to read in one sitting.
//
// Every differentiable op that sees an input requiring grad (while grad mode is on) records a Node on its
// output: the Node knows where each input's gradient goes next (an Edge: either the Node that produced
// that input, or the leaf tensor that accumulates it) and holds a closure that maps the output's
// gradient to the inputs' gradients. The closure captures exactly the tensors the op needs (detached,
// so a Node never keeps its own output's history alive).
//
// backward(): sort the Nodes reachable from the root in topological order, walk it in reverse, and
// add each returned gradient into its target. Gradients accumulate (a tensor used twice gets the sum),
// leaves keep theirs in .grad(), intermediate gradients are dropped as soon as they have been used.
// Leaves that do not require grad (frozen weights) have no Edge, so the op's closure sees
// needs_grad(i) == false and never runs that gradient's kernel.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nst {

struct Node;

struct AutogradMeta {
    bool requires_grad = false;
    Tensor grad;                    // leaves: the accumulated gradient
    std::shared_ptr<Node> grad_fn;  // non-leaves: the op that made this tensor
};

struct Edge {
    std::shared_ptr<Node> node;          // the gradient flows on into this op's backward...
    std::shared_ptr<AutogradMeta> leaf;  // ...or accumulates into this leaf; neither: not needed
    Shape shape;                         // the input's shape, to check what the backward returns
    DType dtype = DType::F32;
    Device device;
    bool active() const { return node || leaf; }
};

// Maps the gradient of the op's output to one gradient per input (an undefined Tensor where
// !self.needs_grad(i)). The engine holds grad_out only for the call and reads it no more afterwards, so
// where grad_out.sole_owner() (no seed the caller kept, no tensor handed to several inputs) a backward may
// overwrite it in place (conv2d_relu masks it so) instead of holding a second buffer of its size.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const struct Node& self)>;

struct Node {
    std::string name;
    std::vector<Edge> next;  // one per input, in the op's argument order
    BackwardFn backward;     // released after use unless the graph is retained
    bool needs_grad(size_t i) const { return i < next.size() && next[i].active(); }
};

// Grad mode: on by default, per thread. NoGradGuard turns it off for a scope (inference, optimizer steps).
bool grad_enabled();
class NoGradGuard {
  public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

  private:
    bool prev_;
};

namespace autograd {

// Whether an op with these inputs must record a Node.
bool needs_record(std::initializer_list<const Tensor*> inputs);

// Records `fn` as the backward of `out` when needs_record(inputs); otherwise does nothing.
// Undefined inputs (an absent bias) are allowed and get an inactive Edge.
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn fn);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& seed, bool retain_graph);

AutogradMeta& meta(const Tensor& t);  // creates it on first use

}  // namespace autograd
}  // namespace nst
