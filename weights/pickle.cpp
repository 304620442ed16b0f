// The pickle virtual machine subset (contract in pickle.h). Opcode meanings follow CPython's
// Lib/pickletools.py; only constructs seen in torch.save output are accepted.
#include "weights/pickle.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>

#include "base/error.h"
#include "weights/weight_file.h"

namespace nst::weights {

const PyValue* PyValue::get(const std::string& key) const {
    if (kind != Kind::Dict) return nullptr;
    for (const auto& [k, v] : dict)
        if (k->kind == Kind::Str && k->s == key) return v;
    return nullptr;
}

struct Unpickler::Impl {
    std::vector<std::unique_ptr<PyValue>> arena;
    std::map<uint64_t, PyValue*> memo;
    static constexpr size_t kMaxValues = 50'000'000;

    PyValue* make(PyValue::Kind k) {
        if (arena.size() >= kMaxValues) throw Error("pickle: too many objects");
        arena.push_back(std::make_unique<PyValue>());
        arena.back()->kind = k;
        return arena.back().get();
    }
};

Unpickler::Unpickler(std::string_view data, std::string name) : impl_(std::make_unique<Impl>()), data_(data), name_(std::move(name)) {}
Unpickler::~Unpickler() = default;

const PyValue* Unpickler::load() {
    using K = PyValue::Kind;
    Impl& m = *impl_;
    std::vector<PyValue*> stack;
    std::vector<size_t> marks;
    auto fail = [&](const std::string& what) -> Error {
        return Error(name_ + ": unreadable pickle at byte " + std::to_string(pos_) + ": " + what);
    };
    auto need = [&](size_t n) {
        if (n > data_.size() - pos_) throw fail("unexpected end of data (truncated file?)");
    };
    auto u = [&](int n) {  // little-endian unsigned
        need(size_t(n));
        const uint64_t v = read_le(data_.data() + pos_, n);
        pos_ += size_t(n);
        return v;
    };
    auto bytes = [&](uint64_t n) {
        need(n);
        std::string s(data_.substr(pos_, size_t(n)));
        pos_ += size_t(n);
        return s;
    };
    auto line = [&]() {
        const size_t e = data_.find('\n', pos_);
        if (e == std::string_view::npos) throw fail("unterminated text argument");
        std::string s(data_.substr(pos_, e - pos_));
        pos_ = e + 1;
        return s;
    };
    auto pop = [&]() {
        if (stack.empty() || (!marks.empty() && stack.size() <= marks.back())) throw fail("stack underflow");
        PyValue* v = stack.back();
        stack.pop_back();
        return v;
    };
    auto top = [&]() {
        if (stack.empty()) throw fail("stack underflow");
        return stack.back();
    };
    auto pop_mark = [&]() {  // the values pushed since the last MARK
        if (marks.empty()) throw fail("no MARK");
        std::vector<PyValue*> v(stack.begin() + std::ptrdiff_t(marks.back()), stack.end());
        stack.resize(marks.back());
        marks.pop_back();
        return v;
    };
    auto integer = [&](int64_t v) {
        PyValue* x = m.make(K::Int);
        x->i = v;
        return x;
    };
    auto str = [&](K k, std::string s) {
        PyValue* x = m.make(k);
        x->s = std::move(s);
        return x;
    };
    auto tuple = [&](std::vector<PyValue*> v) {
        PyValue* t = m.make(K::Tuple);
        t->items.assign(v.begin(), v.end());
        return t;
    };
    auto long_bytes = [&](const std::string& b) {  // little-endian two's complement
        if (b.size() > 8) {  // wider than 64 bits: keep the raw bytes (torch's legacy magic number is one)
            PyValue* x = integer(0);
            x->s = b;
            return x;
        }
        uint64_t v = 0;
        for (size_t k = b.size(); k-- > 0;) v = (v << 8) | uint8_t(b[k]);
        if (!b.empty() && b.size() < 8 && (uint8_t(b.back()) & 0x80)) v |= ~uint64_t(0) << (8 * b.size());
        return integer(int64_t(v));
    };
    auto ints_of = [&](const PyValue* t, const char* what) {
        if (!t || t->kind != K::Tuple) throw fail(std::string(what) + " is not a tuple");
        std::vector<int64_t> r;
        for (const PyValue* x : t->items) {
            if (x->kind != K::Int) throw fail(std::string(what) + " holds a non-integer");
            r.push_back(x->i);
        }
        return r;
    };
    // What REDUCE builds: torch's tensor constructors become TensorRefs, OrderedDict a dict, anything
    // else an opaque object (never executed).
    auto call = [&](PyValue* fn, PyValue* args) -> PyValue* {
        if (args->kind != K::Tuple) throw fail("call arguments are not a tuple");
        const auto& a = args->items;
        if (fn->kind == K::Global) {
            const std::string qual = fn->s + "." + fn->s2;
            if (qual == "collections.OrderedDict") return m.make(K::Dict);
            if (qual == "torch._utils._rebuild_tensor_v2" || qual == "torch._utils._rebuild_tensor") {
                if (a.size() < 4) throw fail(qual + " with too few arguments");
                if (a[0]->kind != K::PersistentId) throw fail("tensor storage is not a persistent id");
                if (a[1]->kind != K::Int) throw fail("tensor storage offset is not an integer");
                PyValue* t = m.make(K::TensorRef);
                t->storage = a[0];
                t->offset = a[1]->i;
                t->size = ints_of(a[2], "tensor size");
                t->stride = ints_of(a[3], "tensor stride");
                if (t->size.size() != t->stride.size()) throw fail("tensor size and stride differ in length");
                return t;
            }
            if ((qual == "torch._utils._rebuild_parameter" || qual == "torch._utils._rebuild_parameter_with_state") &&
                !a.empty())
                return const_cast<PyValue*>(a[0]);
        }
        PyValue* o = m.make(K::Object);
        o->items = {fn, args};
        return o;
    };

    for (;;) {
        need(1);
        const uint8_t op = uint8_t(data_[pos_++]);
        switch (op) {
            case 0x80: u(1); break;  // PROTO
            case 0x95: u(8); break;  // FRAME: framing is transparent to a reader of the whole buffer
            case '.':                // STOP
                if (stack.size() != 1 || !marks.empty()) throw fail("STOP with a malformed stack");
                return stack.back();
            case '(': marks.push_back(stack.size()); break;
            case 'N': stack.push_back(m.make(K::None)); break;
            case 0x88: case 0x89: {
                PyValue* b = m.make(K::Bool);
                b->i = op == 0x88;
                stack.push_back(b);
                break;
            }
            case 'J': stack.push_back(integer(int32_t(uint32_t(u(4))))); break;
            case 'K': stack.push_back(integer(int64_t(u(1)))); break;
            case 'M': stack.push_back(integer(int64_t(u(2)))); break;
            case 0x8a: stack.push_back(long_bytes(bytes(u(1)))); break;
            case 0x8b: stack.push_back(long_bytes(bytes(u(4)))); break;
            case 'I': case 'L': {  // text INT / LONG (protocol 0)
                std::string t = line();
                if (!t.empty() && t.back() == 'L') t.pop_back();
                if (t == "00" || t == "01") {
                    PyValue* b = m.make(K::Bool);
                    b->i = t == "01";
                    stack.push_back(b);
                    break;
                }
                try {
                    stack.push_back(integer(std::stoll(t)));
                } catch (const std::exception&) {
                    throw fail("bad text integer");
                }
                break;
            }
            case 'G': {
                uint64_t bits = 0;
                need(8);
                for (int k = 0; k < 8; ++k) bits = (bits << 8) | uint8_t(data_[pos_ + size_t(k)]);  // big-endian
                pos_ += 8;
                PyValue* x = m.make(K::Float);
                std::memcpy(&x->f, &bits, 8);
                stack.push_back(x);
                break;
            }
            case 'X': stack.push_back(str(K::Str, bytes(u(4)))); break;
            case 0x8c: stack.push_back(str(K::Str, bytes(u(1)))); break;
            case 0x8d: stack.push_back(str(K::Str, bytes(u(8)))); break;
            case 'T': stack.push_back(str(K::Str, bytes(u(4)))); break;  // BINSTRING (py2 str)
            case 'U': stack.push_back(str(K::Str, bytes(u(1)))); break;
            case 'B': stack.push_back(str(K::Bytes, bytes(u(4)))); break;
            case 'C': stack.push_back(str(K::Bytes, bytes(u(1)))); break;
            case 0x8e: stack.push_back(str(K::Bytes, bytes(u(8)))); break;
            case '}': stack.push_back(m.make(K::Dict)); break;
            case ']': stack.push_back(m.make(K::List)); break;
            case ')': stack.push_back(tuple({})); break;
            case 'd': case 'l': case 't': {
                std::vector<PyValue*> v = pop_mark();
                if (op == 't') {
                    stack.push_back(tuple(v));
                } else if (op == 'l') {
                    PyValue* l = m.make(K::List);
                    l->items.assign(v.begin(), v.end());
                    stack.push_back(l);
                } else {
                    if (v.size() % 2) throw fail("DICT with an odd number of items");
                    PyValue* d = m.make(K::Dict);
                    for (size_t k = 0; k < v.size(); k += 2) d->dict.push_back({v[k], v[k + 1]});
                    stack.push_back(d);
                }
                break;
            }
            case 0x85: case 0x86: case 0x87: {
                std::vector<PyValue*> v(size_t(op - 0x84));
                for (size_t k = v.size(); k-- > 0;) v[k] = pop();
                stack.push_back(tuple(v));
                break;
            }
            case 'c': {
                PyValue* g = m.make(K::Global);
                g->s = line();
                g->s2 = line();
                stack.push_back(g);
                break;
            }
            case 0x93: {
                PyValue* name = pop();
                PyValue* mod = pop();
                if (mod->kind != K::Str || name->kind != K::Str) throw fail("STACK_GLOBAL needs two strings");
                PyValue* g = m.make(K::Global);
                g->s = mod->s;
                g->s2 = name->s;
                stack.push_back(g);
                break;
            }
            case 'R': {
                PyValue* args = pop();
                PyValue* fn = pop();
                stack.push_back(call(fn, args));
                break;
            }
            case 0x81: {  // NEWOBJ cls args
                PyValue* args = pop();
                PyValue* cls = pop();
                stack.push_back(call(cls, args));
                break;
            }
            case 0x92: {  // NEWOBJ_EX cls args kwargs
                pop();
                PyValue* args = pop();
                PyValue* cls = pop();
                stack.push_back(call(cls, args));
                break;
            }
            case 'b': {  // BUILD: apply state to the object below it
                PyValue* state = pop();
                PyValue* obj = top();
                // torch 0.1.x pickled a tensor as torch.FloatTensor() followed by the state
                // (storage, offset, size, stride); make that a TensorRef. Other state (e.g.
                // OrderedDict._metadata) is not needed.
                const PyValue* cls = obj->kind == K::Object ? obj->items[0] : nullptr;
                if (cls && cls->kind == K::Global && cls->s == "torch" && cls->s2.size() > 6 &&
                    cls->s2.compare(cls->s2.size() - 6, 6, "Tensor") == 0 && state->kind == K::Tuple && state->items.size() == 4 &&
                    state->items[0]->kind == K::PersistentId && state->items[1]->kind == K::Int) {
                    obj->kind = K::TensorRef;
                    obj->storage = state->items[0];
                    obj->offset = state->items[1]->i;
                    obj->size = ints_of(state->items[2], "tensor size");
                    obj->stride = ints_of(state->items[3], "tensor stride");
                    if (obj->size.size() != obj->stride.size()) throw fail("tensor size and stride differ in length");
                }
                break;
            }
            case 'Q': {                      // BINPERSID
                PyValue* pid = m.make(K::PersistentId);
                pid->items = {pop()};
                stack.push_back(pid);
                break;
            }
            case 'P': {  // PERSID (text)
                PyValue* pid = m.make(K::PersistentId);
                pid->items = {str(K::Str, line())};
                stack.push_back(pid);
                break;
            }
            case 'q': m.memo[u(1)] = top(); break;
            case 'r': m.memo[u(4)] = top(); break;
            case 0x94: m.memo[m.memo.size()] = top(); break;
            case 'p': {
                try {
                    m.memo[std::stoull(line())] = top();
                } catch (const std::invalid_argument&) {
                    throw fail("bad PUT index");
                } catch (const std::out_of_range&) {
                    throw fail("bad PUT index");
                }
                break;
            }
            case 'h': case 'j': case 'g': {
                uint64_t key = 0;
                if (op == 'h') key = u(1);
                else if (op == 'j') key = u(4);
                else {
                    try { key = std::stoull(line()); } catch (const std::exception&) { throw fail("bad GET index"); }
                }
                auto it = m.memo.find(key);
                if (it == m.memo.end()) throw fail("memo key " + std::to_string(key) + " not defined");
                stack.push_back(it->second);
                break;
            }
            case 's': {
                PyValue* v = pop();
                PyValue* k = pop();
                PyValue* d = top();
                if (d->kind != K::Dict) throw fail("SETITEM on a non-dict");
                d->dict.push_back({k, v});
                break;
            }
            case 'u': {
                std::vector<PyValue*> v = pop_mark();
                PyValue* d = top();
                if (d->kind != K::Dict) throw fail("SETITEMS on a non-dict");
                if (v.size() % 2) throw fail("SETITEMS with an odd number of items");
                for (size_t k = 0; k < v.size(); k += 2) d->dict.push_back({v[k], v[k + 1]});
                break;
            }
            case 'a': {
                PyValue* v = pop();
                PyValue* l = top();
                if (l->kind != K::List) throw fail("APPEND to a non-list");
                l->items.push_back(v);
                break;
            }
            case 'e': {
                std::vector<PyValue*> v = pop_mark();
                PyValue* l = top();
                if (l->kind != K::List) throw fail("APPENDS to a non-list");
                l->items.insert(l->items.end(), v.begin(), v.end());
                break;
            }
            case '0': pop(); break;
            case '1': pop_mark(); break;
            case '2': stack.push_back(top()); break;
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                throw fail(std::string("unsupported opcode ") + hex);
            }
        }
    }
}

}  // namespace nst::weights
