// cuda_on_cpu scheduler: runs a kernel launch on the CPU, every CUDA thread as a fiber (Boost.Context's
// fcontext: a stack and a jump; about 20 ns a switch), blocks one at a time per host worker.
//
// A block's threads run in the chosen order, each until it blocks: at __syncthreads, at a warp
// intrinsic (warp_exchange), or at its end. When no thread can run, the block's barriers are resolved:
// a warp exchange completes when every lane of its mask waits at one with that same mask; the block
// barrier when every thread of the block waits at the same __syncthreads. Anything else -- a lane of
// the mask that exited or waits elsewhere, a barrier some threads exited before reaching -- is a fault
// CUDA leaves undefined (a hang or wrong results), reported here with the threads and source lines.
//
// ThreadSanitizer (a -fsanitize=thread build): each CUDA thread is a TSan fiber, switched to without
// synchronisation, so the only orderings TSan sees are CUDA's: the launch (scheduler -> threads), the
// barriers (every arriving thread releases, every leaving thread acquires), warp exchanges, and the end
// of the block (threads -> scheduler -> next launch). A missing __syncthreads is then a reported race.
// Not CUDA's: blocks run one after another on one worker are ordered (they reuse its __shared__ storage),
// so a race between blocks shows when they run on different workers; and every warp exchange, not only
// __syncwarp, is modelled as a fence among its lanes.
// The scheduler's hand-off fields are relaxed atomics, which TSan neither reports nor orders by.
//
// cp.async (include/cuda_on_cpu/ptx.h) is modelled here, as per-thread state of the fiber: a queue of
// deferred copies, each tagged with the commit group it belongs to, performed by the thread itself
// when a cp_async_wait retires its group; a thread that ends with copies still queued is a fault.
#include <cstdint>
#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cuda_on_cpu/internal.h"
#include "cuda_on_cpu/ptx.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define NST_EMU_TSAN 1
#else
#define NST_EMU_TSAN 0
#endif

namespace cuda_on_cpu {

thread_local std::atomic<const ThreadIndex*> current_index{nullptr};

namespace {

namespace ctx = boost::context::detail;

// ---- ThreadSanitizer hooks (no-ops in other builds) ----
void* tsan_current_fiber() {
#if NST_EMU_TSAN
    return __tsan_get_current_fiber();
#else
    return nullptr;
#endif
}
void* tsan_new_fiber() {
#if NST_EMU_TSAN
    return __tsan_create_fiber(0);
#else
    return nullptr;
#endif
}
__attribute__((always_inline)) inline void tsan_switch(void* fiber) {  // inline: no TSan frame crosses the switch
#if NST_EMU_TSAN
    __tsan_switch_to_fiber(fiber, __tsan_switch_to_fiber_no_sync);
#else
    (void)fiber;
#endif
}
void tsan_release(void* token) {
#if NST_EMU_TSAN
    __tsan_release(token);
#else
    (void)token;
#endif
}
void tsan_acquire(void* token) {
#if NST_EMU_TSAN
    __tsan_acquire(token);
#else
    (void)token;
#endif
}

// ---- scheduling order (NST_CUDA_EMU_ORDER, NST_CUDA_EMU_SEED) ----
enum class Order { Forward, Reverse, Shuffle };
Order order() {
    static const Order o = [] {
        const char* v = std::getenv("NST_CUDA_EMU_ORDER");
        const std::string s = v ? v : "forward";
        if (s == "reverse") return Order::Reverse;
        if (s == "shuffle") return Order::Shuffle;
        if (s != "forward") std::fprintf(stderr, "cuda_on_cpu: NST_CUDA_EMU_ORDER=%s unknown, using forward\n", s.c_str());
        return Order::Forward;
    }();
    return o;
}
uint64_t seed() {
    static const uint64_t s = [] {
        const char* v = std::getenv("NST_CUDA_EMU_SEED");
        return v ? std::strtoull(v, nullptr, 10) : 1;
    }();
    return s;
}
std::vector<uint32_t> ordering(uint32_t n, uint64_t salt) {
    std::vector<uint32_t> v(n);
    std::iota(v.begin(), v.end(), 0u);
    if (order() == Order::Reverse) std::reverse(v.begin(), v.end());
    if (order() == Order::Shuffle) std::shuffle(v.begin(), v.end(), std::mt19937_64(seed() * 1000003u + salt));
    return v;
}

// A fault inside the kernel's code (device_fault): unwinds the fiber to its entry.
struct DeviceFault : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum State : uint8_t { kReady, kAtBarrier, kAtWarp, kDone, kFaulted };

// Equal texts without allocating (checked for every thread at every barrier): usually the same pointer.
bool same_text(const char* a, const char* b) { return a == b || std::strcmp(a, b) == 0; }

struct Where {
    std::atomic<const char*> file{""};
    std::atomic<unsigned> line{0};
    void set(const std::source_location& w) {
        file.store(w.file_name(), std::memory_order_relaxed);
        line.store(w.line(), std::memory_order_relaxed);
    }
    bool same(const Where& o) const {
        return line.load(std::memory_order_relaxed) == o.line.load(std::memory_order_relaxed) &&
               same_text(file.load(std::memory_order_relaxed), o.file.load(std::memory_order_relaxed));
    }
    std::string str() const {
        std::string f = file.load(std::memory_order_relaxed);
        const auto slash = f.rfind('/');
        if (slash != std::string::npos) f = f.substr(slash + 1);
        return f + ":" + std::to_string(line.load(std::memory_order_relaxed));
    }
};

struct Worker;

// A cp.async copy not yet performed; `group` is the number of commits before it was issued (so it
// belongs to the group that commit number `group` + 1 closes).
struct AsyncCopy {
    void* dst;
    const void* src;
    int cp_size, src_size;
    uint64_t group;
    std::source_location where;
};

// One CUDA thread. Fields the fiber and the scheduler both touch are relaxed atomics (see the header).
struct Fiber {
    ThreadIndex index{};
    int linear = 0;
    Worker* worker = nullptr;
    ctx::fcontext_t self = nullptr;       // where the scheduler resumes it
    ctx::fcontext_t scheduler = nullptr;  // where it returns to (only the fiber touches this)
    void* tsan = nullptr;
    std::atomic<uint8_t> state{kReady};
    Where where;
    std::atomic<const char*> op{""};
    std::atomic<unsigned> mask{0}, ballot{0};
    std::atomic<int> src{0};
    std::atomic<uint64_t> value{0}, result{0};
    std::string fault;  // written by the fiber, read by the scheduler after tsan_acquire(&fault_token)
    // cp.async state, touched only by the fiber (and reset by the scheduler before each block):
    // copies[copies_done..] are pending, in issue order; `commits` counts cp_async_commit calls.
    std::vector<AsyncCopy> copies;
    size_t copies_done = 0;
    uint64_t commits = 0;
};

constexpr size_t kStackBytes = size_t(256) << 10, kGuardBytes = 4096, kMaxThreads = 1024;

// A host worker: fiber stacks and TSan fibers for up to 1024 CUDA threads, reused block after block.
struct Worker {
    std::vector<Fiber> fibers = std::vector<Fiber>(kMaxThreads);
    char* stacks = nullptr;
    void* tsan_self = nullptr;
    char launch_token = 0, end_token = 0, fault_token = 0;
    char barrier_token[2] = {}, warp_token[kMaxThreads / 32][2] = {};
    std::atomic<unsigned> barrier_gen{0};
    std::atomic<unsigned> warp_gen[kMaxThreads / 32] = {};
    const std::function<void()>* body = nullptr;  // the kernel, set before each block

    Worker() {
        stacks = static_cast<char*>(mmap(nullptr, kMaxThreads * (kStackBytes + kGuardBytes), PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
        if (stacks == MAP_FAILED) throw std::runtime_error("cuda_on_cpu: cannot map fiber stacks");
        for (size_t i = 0; i < kMaxThreads; ++i) {
            mprotect(stacks + i * (kStackBytes + kGuardBytes), kGuardBytes, PROT_NONE);  // overflow faults
            fibers[i].linear = int(i);
            fibers[i].worker = this;
        }
    }
    ~Worker() { munmap(stacks, kMaxThreads * (kStackBytes + kGuardBytes)); }
    void* stack_top(size_t i) const { return stacks + (i + 1) * (kStackBytes + kGuardBytes); }
};

// The running fiber; set by the fiber itself on every switch-in (atomic for TSan, as current_index).
thread_local std::atomic<Fiber*> t_fiber{nullptr};

Worker& this_worker() {
    static thread_local Worker w;
    if (!w.tsan_self) w.tsan_self = tsan_current_fiber();
    return w;
}

uint8_t state_of(const Fiber& f) { return f.state.load(std::memory_order_relaxed); }
void set_state(Fiber& f, uint8_t s) { f.state.store(s, std::memory_order_relaxed); }
template <class T> T get(const std::atomic<T>& a) { return a.load(std::memory_order_relaxed); }
template <class T, class U> void put(std::atomic<T>& a, U v) { a.store(T(v), std::memory_order_relaxed); }

std::string location_str(const std::source_location& w) {
    std::string f = w.file_name();
    const auto slash = f.rfind('/');
    if (slash != std::string::npos) f = f.substr(slash + 1);
    return f + ":" + std::to_string(w.line());
}

// The fault of a thread that ends with cp.async copies it never waited for (nothing orders them on a
// GPU: they land at some point after the thread's last read, or after another thread's).
std::string pending_copies_str(const Fiber& f) {
    const size_t pending = f.copies.size() - f.copies_done;
    const AsyncCopy& first = f.copies[f.copies_done];
    return "cp.async copies still pending when the thread exited; missing cp.async.wait_group (" +
           std::to_string(pending) + " cop" + (pending == 1 ? "y" : "ies") + ", the first issued at " +
           location_str(first.where) + (first.group == f.commits ? ", never committed)" : ")");
}

// ---------------------------------------------------------------------------------------------------
// The fiber's side.

void enter(Fiber* f) {
    t_fiber.store(f, std::memory_order_relaxed);
    current_index.store(&f->index, std::memory_order_relaxed);
}

// Hands control back to the scheduler; returns when the scheduler resumes this fiber.
// (Everything a switch needs is read before telling TSan of the switch: after it, TSan takes the code
// that still runs here for the other side's.)
// `token` is released last, so that it covers every access the fiber made before it stopped.
void yield_to_scheduler(Fiber* f, char* token) {
    const ctx::fcontext_t to = f->scheduler;
    void* const scheduler_fiber = f->worker->tsan_self;
    tsan_release(token);
    tsan_switch(scheduler_fiber);
    const ctx::transfer_t t = ctx::jump_fcontext(to, nullptr);
    f->scheduler = t.fctx;
    enter(f);
}

// The CUDA thread's life: the kernel, then its end state. Returns normally, so that ThreadSanitizer's
// record of the fiber's calls is balanced when the fiber's TSan identity is reused by the next block.
__attribute__((noinline)) void run_thread(Fiber* f) {
    Worker& w = *f->worker;
    tsan_acquire(&w.launch_token);
    try {
        (*w.body)();
        if (f->copies_done != f->copies.size()) throw DeviceFault(pending_copies_str(*f));
        set_state(*f, kDone);
    } catch (const std::exception& e) {
        f->fault = e.what();
        tsan_release(&w.fault_token);
        set_state(*f, kFaulted);
    } catch (...) {  // nothing may unwind into the fiber's trampoline
        f->fault = "a non-standard exception";
        tsan_release(&w.fault_token);
        set_state(*f, kFaulted);
    }
}

// A fiber's entry. It never returns (it jumps back to the scheduler for good), so it is left out of
// TSan's instrumentation: an entry without an exit, once per block, would overflow TSan's call stack.
__attribute__((no_sanitize("thread"))) void fiber_main(ctx::transfer_t t) {
    auto* f = static_cast<Fiber*>(t.data);
    f->scheduler = t.fctx;
    enter(f);
    run_thread(f);
    const ctx::fcontext_t to = f->scheduler;
    Worker* const w = f->worker;
    void* const scheduler_fiber = w->tsan_self;
    tsan_release(&w->end_token);  // last: covers every access before it (w is not read after it)
    tsan_switch(scheduler_fiber);
    ctx::jump_fcontext(to, nullptr);  // never resumed
}

Fiber& running_fiber(const char* what) {
    Fiber* f = t_fiber.load(std::memory_order_relaxed);
    if (!f) {
        std::fprintf(stderr, "cuda_on_cpu: %s called outside a kernel\n", what);
        std::abort();
    }
    return *f;
}

std::string hex(unsigned v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

}  // namespace

// ---- device-side API (include/cuda_runtime.h) ----
[[noreturn]] void device_fault(const char* what) {
    running_fiber(what);
    throw DeviceFault(what);
}

int lane_id() { return running_fiber("a warp intrinsic").linear & 31; }

void syncthreads(std::source_location where) {
    Fiber& f = running_fiber("__syncthreads");
    Worker& w = *f.worker;
    f.where.set(where);
    put(f.op, "__syncthreads");
    char* token = &w.barrier_token[get(w.barrier_gen) & 1];  // alternate, so a fast thread's next
    set_state(f, kAtBarrier);                                 // arrival is not seen by slow leavers
    yield_to_scheduler(&f, token);
    tsan_acquire(token);
}

uint64_t warp_exchange(unsigned mask, uint64_t value, int src, unsigned* ballot, const char* op,
                       std::source_location where) {
    Fiber& f = running_fiber(op);
    Worker& w = *f.worker;
    const int lane = f.linear & 31, warp = f.linear >> 5;
    f.where.set(where);
    if (!((mask >> lane) & 1u))
        throw DeviceFault(std::string(op) + " at " + f.where.str() + " with mask " + hex(mask) +
                          ", which leaves out the calling lane " + std::to_string(lane));
    put(f.op, op);
    put(f.mask, mask);
    put(f.value, value);
    put(f.src, src);
    char* token = &w.warp_token[warp][get(w.warp_gen[warp]) & 1];
    set_state(f, kAtWarp);
    yield_to_scheduler(&f, token);
    tsan_acquire(token);
    if (ballot) *ballot = get(f.ballot);
    return get(f.result);
}

void syncwarp(unsigned mask, std::source_location where) {
    warp_exchange(mask, 0, lane_id(), nullptr, "__syncwarp", where);
}

// ---- cp.async (include/cuda_on_cpu/ptx.h) ----
void cp_async(void* smem_dst, const void* gmem_src, int cp_size, int src_size, std::source_location where) {
    Fiber& f = running_fiber("cp.async");
    const auto bad = [&](const std::string& what) {
        throw DeviceFault("cp.async at " + location_str(where) + ": " + what);
    };
    if (cp_size != 4 && cp_size != 8 && cp_size != 16)
        bad("cp-size " + std::to_string(cp_size) + "; it must be 4, 8 or 16");
    if (src_size < 0 || src_size > cp_size)
        bad("src-size " + std::to_string(src_size) + " outside [0, cp-size " + std::to_string(cp_size) + "]");
    if (reinterpret_cast<uintptr_t>(smem_dst) % unsigned(cp_size) != 0)
        bad("the shared-memory destination is not aligned to the " + std::to_string(cp_size) + "-byte copy");
    if (src_size > 0 && reinterpret_cast<uintptr_t>(gmem_src) % unsigned(cp_size) != 0)
        bad("the global source is not aligned to the " + std::to_string(cp_size) + "-byte copy");
    if (src_size > 0 && !device_range(gmem_src, size_t(src_size)))
        bad("the " + std::to_string(src_size) + " source bytes are not inside one cudaMalloc allocation");
    if (device_range(smem_dst, 1)) bad("the destination is global memory; cp.async writes shared memory");
    f.copies.push_back(AsyncCopy{smem_dst, gmem_src, cp_size, src_size, f.commits, where});
}

void cp_async_commit() { ++running_fiber("cp.async.commit_group").commits; }

void cp_async_wait(int n) {
    Fiber& f = running_fiber("cp.async.wait_group");
    if (n < 0) throw DeviceFault("cp.async.wait_group " + std::to_string(n) + ": a negative count");
    if (f.commits <= uint64_t(n)) return;
    const uint64_t retire_below = f.commits - uint64_t(n);  // groups 0 .. retire_below-1 complete
    while (f.copies_done < f.copies.size() && f.copies[f.copies_done].group < retire_below) {
        const AsyncCopy& c = f.copies[f.copies_done++];
        auto* dst = static_cast<char*>(c.dst);
        if (c.src_size > 0) std::memcpy(dst, c.src, size_t(c.src_size));
        std::memset(dst + c.src_size, 0, size_t(c.cp_size - c.src_size));
    }
    if (f.copies_done == f.copies.size()) {
        f.copies.clear();
        f.copies_done = 0;
    } else if (f.copies_done >= 64 && 2 * f.copies_done >= f.copies.size()) {  // a pipeline never drains
        f.copies.erase(f.copies.begin(), f.copies.begin() + std::ptrdiff_t(f.copies_done));
        f.copies_done = 0;
    }
}

namespace {

// ---------------------------------------------------------------------------------------------------
// The scheduler's side: one block on one worker.

std::string thread_str(const Fiber& f) {
    const uint3 t = f.index.thread_idx;
    return "thread (" + std::to_string(t.x) + "," + std::to_string(t.y) + "," + std::to_string(t.z) + ")";
}
std::string waits_str(const Fiber& f) {
    std::string s = thread_str(f) + " waits at " + get(f.op) + " (" + f.where.str() + ")";
    if (state_of(f) == kAtWarp) s += " with mask " + hex(get(f.mask));
    return s;
}

struct BlockRun {
    Worker& w;
    unsigned n;  // threads in the block
    std::string error;

    Fiber& at(unsigned i) { return w.fibers[i]; }

    // Lanes meet in one exchange when they wait with the same mask at the same intrinsic, and (but for
    // __syncwarp, which Volta and later let meet across call sites) at the same source line.
    static bool same_exchange(const Fiber& a, const Fiber& b) {
        if (get(a.mask) != get(b.mask) || !same_text(get(a.op), get(b.op))) return false;
        return same_text(get(a.op), "__syncwarp") || a.where.same(b.where);
    }

    // Completes every warp exchange whose lanes have all arrived; returns the lanes released.
    unsigned release_warps() {
        unsigned released = 0;
        for (unsigned lead = 0; lead < n && error.empty(); ++lead) {
            if (state_of(at(lead)) != kAtWarp) continue;
            const unsigned warp = lead / 32, mask = get(at(lead).mask);
            bool ready = true;
            for (unsigned j = 0; j < 32 && ready && error.empty(); ++j) {
                if (!((mask >> j) & 1u)) continue;
                const unsigned i = warp * 32 + j;
                if (i >= n) {
                    error = waits_str(at(lead)) + ", but lane " + std::to_string(j) + " does not exist (the block has " +
                            std::to_string(n) + " threads)";
                } else if (state_of(at(i)) == kDone) {
                    error = waits_str(at(lead)) + ", but lane " + std::to_string(j) + " (" + thread_str(at(i)) +
                            ") has exited";
                } else if (state_of(at(i)) == kAtWarp && !same_exchange(at(lead), at(i))) {
                    error = waits_str(at(lead)) + ", but lane " + std::to_string(j) + " " + waits_str(at(i));
                } else if (state_of(at(i)) != kAtWarp) {
                    ready = false;  // at the block barrier: a deadlock unless something else moves
                }
            }
            if (!ready || !error.empty()) continue;
            unsigned ballot = 0;
            for (unsigned j = 0; j < 32; ++j)
                if (((mask >> j) & 1u) && get(at(warp * 32 + j).value) != 0) ballot |= 1u << j;
            for (unsigned j = 0; j < 32 && error.empty(); ++j) {
                if (!((mask >> j) & 1u)) continue;
                Fiber& f = at(warp * 32 + j);
                const int src = get(f.src);
                if (src < 0 || src > 31 || !((mask >> src) & 1u)) {
                    error = waits_str(f) + " and reads lane " + std::to_string(src) + ", which is not in the mask";
                    break;
                }
                put(f.result, get(at(warp * 32 + unsigned(src)).value));
                put(f.ballot, ballot);
            }
            if (!error.empty()) break;
            w.warp_gen[warp].fetch_add(1, std::memory_order_relaxed);
            for (unsigned j = 0; j < 32; ++j)
                if ((mask >> j) & 1u) set_state(at(warp * 32 + j), kReady), ++released;
        }
        return released;
    }

    // Releases the block barrier when every thread waits at the same __syncthreads.
    unsigned release_barrier() {
        unsigned waiting = 0, done = 0, first_waiting = n, first_done = n;
        for (unsigned i = 0; i < n; ++i) {
            const uint8_t s = state_of(at(i));
            if (s == kAtBarrier) waiting++, first_waiting = std::min(first_waiting, i);
            if (s == kDone) done++, first_done = std::min(first_done, i);
        }
        if (waiting == 0 || waiting + done != n) return 0;
        if (done > 0) {
            error = "__syncthreads (" + at(first_waiting).where.str() + ") reached by " + std::to_string(waiting) +
                    " of " + std::to_string(n) + " threads: " + thread_str(at(first_done)) + " and " +
                    std::to_string(done - 1) + " others exited without reaching it";
            return 0;
        }
        for (unsigned i = 0; i < n; ++i)
            if (!at(i).where.same(at(first_waiting).where)) {
                error = "threads wait at different barriers: " + waits_str(at(first_waiting)) + ", " + waits_str(at(i));
                return 0;
            }
        w.barrier_gen.fetch_add(1, std::memory_order_relaxed);
        for (unsigned i = 0; i < n; ++i) set_state(at(i), kReady);
        return n;
    }

    // Names each distinct place threads wait at, with how many wait there and one of them.
    std::string deadlock() const {
        std::string s = "deadlock: no thread can go on:";
        std::vector<unsigned> firsts;
        for (unsigned i = 0; i < n; ++i) {
            const Fiber& f = w.fibers[i];
            const uint8_t st = state_of(f);
            if (st != kAtBarrier && st != kAtWarp) continue;
            bool seen = false;
            for (unsigned j : firsts) seen |= w.fibers[j].where.same(f.where) && same_text(get(w.fibers[j].op), get(f.op));
            if (!seen) firsts.push_back(i);
        }
        for (unsigned j : firsts) {
            unsigned count = 0;
            for (unsigned i = 0; i < n; ++i)
                count += w.fibers[i].where.same(w.fibers[j].where) && same_text(get(w.fibers[i].op), get(w.fibers[j].op)) &&
                         (state_of(w.fibers[i]) == kAtBarrier || state_of(w.fibers[i]) == kAtWarp);
            s += (j == firsts.front() ? " " : "; ") + std::to_string(count) + " threads, e.g. " + waits_str(w.fibers[j]);
        }
        return s;
    }

    void resume(Fiber& f) {
        const ctx::fcontext_t to = f.self;
        tsan_switch(f.tsan);
        const ctx::transfer_t t = ctx::jump_fcontext(to, &f);
        f.self = t.fctx;
    }

    // Runs the block to its end; returns an error describing the first fault, or "".
    std::string run(const std::vector<uint32_t>& order) {
        for (;;) {
            for (uint32_t i : order) {
                Fiber& f = at(i);
                if (state_of(f) != kReady) continue;
                resume(f);
                if (state_of(f) == kFaulted) {
                    tsan_acquire(&w.fault_token);
                    return thread_str(f) + ": " + f.fault;
                }
            }
            unsigned released = release_warps();
            if (error.empty() && released == 0) released = release_barrier();
            if (!error.empty()) return error;
            if (released == 0) break;
        }
        for (unsigned i = 0; i < n; ++i)
            if (state_of(at(i)) != kDone) return deadlock();
        return "";
    }
};

uint3 unflatten(uint64_t i, dim3 d) {
    return uint3{unsigned(i % d.x), unsigned((i / d.x) % d.y), unsigned(i / (uint64_t(d.x) * d.y))};
}

std::string run_block(Worker& w, const LaunchConfig& cfg, const std::function<void()>& body, uint64_t b) {
    const unsigned n = cfg.block.x * cfg.block.y * cfg.block.z;
    const uint3 block_idx = unflatten(b, cfg.grid);
    w.body = &body;
    w.barrier_gen.store(0, std::memory_order_relaxed);
    for (auto& g : w.warp_gen) g.store(0, std::memory_order_relaxed);
    for (unsigned i = 0; i < n; ++i) {
        Fiber& f = w.fibers[i];
        f.index = ThreadIndex{unflatten(i, cfg.block), block_idx, cfg.block, cfg.grid};
        set_state(f, kReady);
        f.fault.clear();
        f.copies.clear();
        f.copies_done = 0;
        f.commits = 0;
        f.self = ctx::make_fcontext(w.stack_top(i), kStackBytes, fiber_main);
        if (NST_EMU_TSAN && !f.tsan) f.tsan = tsan_new_fiber();
    }
    tsan_release(&w.launch_token);
    static thread_local std::vector<uint32_t> order;
    if (order.size() != n || cuda_on_cpu::order() == Order::Shuffle) order = ordering(n, b);
    BlockRun run{w, n, {}};
    std::string err = run.run(order);
    // Every thread's last act was a release (at a barrier, a warp exchange, a fault or its end): acquiring
    // them all orders everything the block did before what the host does next, abandoned blocks included.
    tsan_acquire(&w.end_token);
    tsan_acquire(&w.fault_token);
    for (char& t : w.barrier_token) tsan_acquire(&t);
    for (unsigned warp = 0; warp < (n + 31) / 32; ++warp)
        for (char& t : w.warp_token[warp]) tsan_acquire(&t);
    current_index.store(nullptr, std::memory_order_relaxed);
    t_fiber.store(nullptr, std::memory_order_relaxed);
    if (err.empty()) return err;
    return "block (" + std::to_string(block_idx.x) + "," + std::to_string(block_idx.y) + "," +
           std::to_string(block_idx.z) + "), " + err;
}

// ---------------------------------------------------------------------------------------------------
// A grid: blocks handed out to the workers (the calling thread is worker 0).

struct Grid {
    const LaunchConfig& cfg;
    const std::function<void()>& body;
    uint64_t total;
    std::vector<uint32_t> shuffled;  // NST_CUDA_EMU_ORDER=shuffle: a permutation of the blocks

    uint64_t block_at(uint64_t k) const {
        if (order() == Order::Reverse) return total - 1 - k;
        return shuffled.empty() ? k : shuffled[k];
    }
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::string fault;

    void work(Worker& w) {
        while (!failed.load(std::memory_order_relaxed)) {
            // Relaxed: TSan must not see one block's end ordered before another worker's next block.
            const uint64_t k = next.fetch_add(1, std::memory_order_relaxed);
            if (k >= total) break;
            const uint64_t b = block_at(k);
            std::string err;
            try {
                err = run_block(w, cfg, body, b);
            } catch (const std::exception& e) {  // the emulator itself failed (no memory for stacks...)
                err = std::string("cuda_on_cpu could not run the block: ") + e.what();
            }
            if (!err.empty()) {
                std::lock_guard<std::mutex> lock(mu);
                if (fault.empty()) fault = std::move(err);
                failed = true;
            }
        }
    }
};

class WorkerPool {
  public:
    ~WorkerPool() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }

    void run(Grid& g) {
        const int helpers = std::min<int>(worker_count() - 1, int(std::min<uint64_t>(g.total - 1, 1u << 20)));
        if (helpers <= 0) return g.work(this_worker());
        while (int(threads_.size()) < worker_count() - 1) threads_.emplace_back([this] { loop(); });
        {
            std::lock_guard<std::mutex> lock(mu_);
            grid_ = &g;
            ++generation_;
            running_ = int(threads_.size());
        }
        cv_.notify_all();
        g.work(this_worker());
        std::unique_lock<std::mutex> lock(mu_);
        done_.wait(lock, [&] { return running_ == 0; });
        grid_ = nullptr;
    }

  private:
    void loop() {
        uint64_t seen = 0;
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            Grid* g = grid_;
            lock.unlock();
            g->work(this_worker());
            lock.lock();
            if (--running_ == 0) done_.notify_all();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_, done_;
    std::vector<std::thread> threads_;
    Grid* grid_ = nullptr;
    uint64_t generation_ = 0;
    int running_ = 0;
    bool stop_ = false;
};

std::string dims(dim3 d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

void run_grid(const LaunchConfig& cfg, const std::function<void()>& body) {
    static std::mutex launch_mu;  // one grid at a time, whichever host thread launches it
    static WorkerPool pool;
    std::lock_guard<std::mutex> lock(launch_mu);
    if (sticky_error() != cudaSuccess) return;  // as on a GPU: after a fault nothing more runs
    Grid g{cfg, body, uint64_t(cfg.grid.x) * cfg.grid.y * cfg.grid.z, {}};
    // A shuffle of up to 2^26 blocks (256 MiB of order); larger grids run in forward order.
    if (order() == Order::Shuffle && g.total <= (uint64_t(1) << 26)) g.shuffled = ordering(uint32_t(g.total), 7);
    pool.run(g);
    if (!g.fault.empty())
        fault(g.fault.find("__trap") != std::string::npos ? cudaErrorIllegalInstruction : cudaErrorLaunchFailure,
              std::string("kernel ") + cfg.kernel_name + "<<<" + dims(cfg.grid) + ", " + dims(cfg.block) + ">>>, " + g.fault);
}

// CUDA's launch limits; a violation is a (non-sticky) launch error.
std::string config_error(const LaunchConfig& c) {
    const uint64_t threads = uint64_t(c.block.x) * c.block.y * c.block.z;
    if (!c.block.x || !c.block.y || !c.block.z || !c.grid.x || !c.grid.y || !c.grid.z)
        return "a zero grid or block dimension";
    if (threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64)
        return "block " + dims(c.block) + " = " + std::to_string(threads) +
               " threads; at most 1024 per block (1024, 1024, 64 per dimension)";
    if (c.grid.y > 65535 || c.grid.z > 65535 || c.grid.x > 2147483647u)
        return "grid " + dims(c.grid) + " is over the limits (2^31-1, 65535, 65535)";
    if (c.shared_bytes > c.max_shared_bytes)
        return std::to_string(c.shared_bytes) + " bytes of dynamic shared memory; this kernel may take at most " +
               std::to_string(c.max_shared_bytes) + (c.max_shared_bytes == (48u << 10)
                                                         ? " (more needs cudaFuncSetAttribute(MaxDynamicSharedMemorySize))"
                                                         : "");
    return "";
}

}  // namespace

void launch(const LaunchConfig& config, std::function<void()> body) {
    if (sticky_error() != cudaSuccess) {
        fail(sticky_error(), std::string("launch of ") + config.kernel_name + " after an earlier fault");
        return;
    }
    if (const std::string e = config_error(config); !e.empty()) {
        fail(cudaErrorInvalidConfiguration, std::string("kernel ") + config.kernel_name + ": " + e);
        if (valid_stream(config.stream)) invalidate_capture(config.stream);
        return;
    }
    if (!valid_stream(config.stream)) {
        fail(cudaErrorInvalidResourceHandle, std::string("kernel ") + config.kernel_name + ": unknown stream");
        return;
    }
    submit(config.stream, [config, body = std::move(body)] { run_grid(config, body); });
}

namespace {
std::mutex g_smem_mu;
std::vector<std::pair<const void*, size_t>>& smem_limits() {
    static std::vector<std::pair<const void*, size_t>> v;
    return v;
}
}  // namespace

cudaError_t set_max_dynamic_shared(const void* kernel, int bytes) {
    if (bytes < 0 || bytes > kMaxOptInSharedBytes)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: MaxDynamicSharedMemorySize " + std::to_string(bytes) +
                                               " is over the device's " + std::to_string(kMaxOptInSharedBytes));
    std::lock_guard<std::mutex> lock(g_smem_mu);
    for (auto& [k, b] : smem_limits())
        if (k == kernel) {
            b = size_t(bytes);
            return cudaSuccess;
        }
    smem_limits().emplace_back(kernel, size_t(bytes));
    return cudaSuccess;
}

size_t max_dynamic_shared(const void* kernel) {
    std::lock_guard<std::mutex> lock(g_smem_mu);
    for (const auto& [k, b] : smem_limits())
        if (k == kernel) return std::max(b, size_t(48u << 10));
    return 48u << 10;
}

}  // namespace cuda_on_cpu
