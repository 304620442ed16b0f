// The autograd engine and the autograd parts of Tensor (contract in autograd.h).
#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"

namespace nst {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

namespace autograd {

AutogradMeta& meta(const Tensor& t) {
    auto& m = t.impl()->autograd;
    if (!m) m = std::make_shared<AutogradMeta>();
    return *m;
}

namespace {
bool input_requires_grad(const Tensor* t) { return t->defined() && t->impl()->autograd && t->impl()->autograd->requires_grad; }
}  // namespace

bool needs_record(std::initializer_list<const Tensor*> inputs) {
    if (!grad_enabled()) return false;
    for (const Tensor* t : inputs)
        if (input_requires_grad(t)) return true;
    return false;
}

void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, BackwardFn fn) {
    if (!needs_record(inputs)) return;
    auto node = std::make_shared<Node>();
    node->name = name;
    for (const Tensor* t : inputs) {
        Edge e;
        if (input_requires_grad(t)) {
            const auto& m = t->impl()->autograd;
            if (m->grad_fn)
                e.node = m->grad_fn;
            else
                e.leaf = m;
            e.shape = t->shape();
            e.dtype = t->dtype();
            e.device = t->device();
        }
        node->next.push_back(std::move(e));
    }
    node->backward = std::move(fn);
    AutogradMeta& m = meta(out);
    m.requires_grad = true;
    m.grad_fn = std::move(node);
}

namespace {

// Nodes reachable from root, each after all Nodes that consume its output (iterative DFS post-order,
// reversed), so a Node runs only once every gradient flowing into it has arrived.
std::vector<Node*> topological_order(Node* root) {
    std::vector<Node*> post;
    std::unordered_set<Node*> seen{root};
    std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
    while (!stack.empty()) {
        auto& [n, i] = stack.back();
        if (i < n->next.size()) {
            Node* child = n->next[i++].node.get();
            if (child && seen.insert(child).second) stack.push_back({child, 0});
        } else {
            post.push_back(n);
            stack.pop_back();
        }
    }
    return {post.rbegin(), post.rend()};
}

void check_grad(const Tensor& g, const Edge& e, const Node& n, size_t i) {
    if (g.shape() != e.shape || g.dtype() != e.dtype || g.device() != e.device)
        throw Error("autograd: backward of '" + n.name + "' returned " + g.str() + " for input " + std::to_string(i) +
                    " of shape " + shape_str(e.shape));
}

// Leaf gradients are owned by the leaf: the first is copied, later ones are added in place.
void accumulate_leaf(AutogradMeta& m, const Tensor& g) {
    if (!m.grad.defined())
        m.grad = g.clone();
    else
        add_into(m.grad, g);
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
    check_defined(root, "backward", "root");
    check_defined(seed, "backward", "seed");
    if (!root.requires_grad())
        throw Error("backward: " + root.str() + " does not require grad (no input of its graph requires grad)");
    if (seed.shape() != root.shape() || seed.dtype() != root.dtype() || seed.device() != root.device())
        throw Error("backward: seed " + seed.str() + " does not match root " + root.str());
    NoGradGuard no_grad;  // backward closures are not themselves recorded
    AutogradMeta& rm = meta(root);
    if (!rm.grad_fn) {  // the root is a leaf
        accumulate_leaf(rm, seed);
        return;
    }
    // Pending gradients of intermediate outputs; an entry is dropped once its Node has run.
    std::unordered_map<Node*, Tensor> pending;
    pending[rm.grad_fn.get()] = seed;
    for (Node* n : topological_order(rm.grad_fn.get())) {
        auto it = pending.find(n);
        if (it == pending.end()) continue;  // no gradient reached this Node
        const Tensor g = std::move(it->second);
        pending.erase(it);
        if (!n->backward)
            throw Error("backward: the graph through '" + n->name +
                        "' was already freed by an earlier backward (pass retain_graph=true to keep it)");
        std::vector<Tensor> grads = n->backward(g, *n);
        if (grads.size() != n->next.size())
            throw Error("autograd: backward of '" + n->name + "' returned the wrong number of gradients");
        for (size_t i = 0; i < grads.size(); ++i) {
            const Edge& e = n->next[i];
            if (!e.active() || !grads[i].defined()) continue;
            check_grad(grads[i], e, *n, i);
            if (e.leaf) {
                accumulate_leaf(*e.leaf, grads[i]);
            } else {
                Tensor& slot = pending[e.node.get()];
                // Out of place: a backward may hand the same tensor to several inputs.
                slot = slot.defined() ? add(slot, grads[i]) : grads[i];
            }
        }
        if (!retain_graph) n->backward = nullptr;
    }
}

}  // namespace autograd

Tensor& Tensor::requires_grad_(bool on) {
    AutogradMeta& m = autograd::meta(*this);
    if (m.grad_fn) throw Error("requires_grad_: only leaf tensors can be marked; " + str() + " is an op's output");
    if (on && dtype() == DType::I32) throw Error("requires_grad_: integer tensors have no gradient");
    m.requires_grad = on;
    return *this;
}

bool Tensor::requires_grad() const { return impl() && impl()->autograd && impl()->autograd->requires_grad; }
bool Tensor::is_leaf() const { return !(impl() && impl()->autograd && impl()->autograd->grad_fn); }
Tensor Tensor::grad() const { return impl() && impl()->autograd ? impl()->autograd->grad : Tensor(); }
void Tensor::zero_grad() {
    if (impl() && impl()->autograd) impl()->autograd->grad = Tensor();
}

void Tensor::backward() const {
    if (numel() != 1)
        throw Error("backward() without a seed needs a one-element tensor (a loss); got " + str());
    backward(Tensor::full(shape(), 1.0, dtype(), device()));
}
void Tensor::backward(const Tensor& seed, bool retain_graph) const { autograd::run_backward(*this, seed, retain_graph); }

}  // namespace nst
