// The CPU thread pool (contract in parallel.h): workers sleep on a condition variable and wake for each
// parallel_for, take chunk i of the job, and report back; the caller runs chunk 0.
#include "kernels/cpu/parallel.h"

#include "base/error.h"

#include <cstdint>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifdef NST_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace nst::cpu {

namespace {

thread_local bool tl_in_pool = false;

// Waits up to ~50 µs for ready() by spinning, before the caller blocks on a condition variable. A
// blocked thread takes a futex wake-up to resume, tens of µs on a virtual machine (an inter-processor
// interrupt to a sleeping vCPU), and an evaluation runs a few hundred parallel regions back to back.
template <class Ready> void spin_briefly(Ready ready) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (int i = 1;; ++i) {
        if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return;
    }
}

class Pool {
  public:
    explicit Pool(int n) { resize(n); }
    ~Pool() { stop(); }

    int size() const { return int(workers_.size()) + 1; }

    void resize(int n) {
        n = std::max(1, n);
        if (n == size()) return;
        stop();
        std::lock_guard<std::mutex> lk(m_);
        quit_ = false;
        for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, g = generation_.load()] { work(i, g); });
    }

    void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
        const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
        const int chunks = int(std::min<int64_t>(size(), max_chunks));
        if (chunks <= 1 || tl_in_pool) {
            if (n > 0) fn(0, n);
            return;
        }
        std::lock_guard<std::mutex> one_job(job_m_);  // parallel_for from two outside threads: one at a time
        {
            std::lock_guard<std::mutex> lk(m_);
            fn_ = &fn;
            n_ = n;
            chunks_ = chunks;
            pending_ = chunks - 1;
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();  // no system call when every worker is still spinning (no waiters)
        tl_in_pool = true;
        try {
            chunk(0);
        } catch (...) {
            std::lock_guard<std::mutex> lk(m_);
            if (!error_) error_ = std::current_exception();
        }
        tl_in_pool = false;
        spin_briefly([&] { return pending_.load(std::memory_order_acquire) == 0; });
        std::unique_lock<std::mutex> lk(m_);
        done_.wait(lk, [&] { return pending_ == 0; });
        fn_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

  private:
    void chunk(int i) {
        const int64_t b = n_ * i / chunks_, e = n_ * (i + 1) / chunks_;
        if (b < e) (*fn_)(b, e);
    }

    void work(int i, uint64_t seen) {  // seen: the last job before this worker existed
        tl_in_pool = true;
        for (;;) {
            spin_briefly([&] { return quit_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; });
            {
                std::unique_lock<std::mutex> lk(m_);
                wake_.wait(lk, [&] { return quit_ || generation_ != seen; });
                if (quit_) return;
                seen = generation_;
                if (i >= chunks_) continue;  // this job has fewer chunks than threads
            }
            std::exception_ptr err;
            try {
                chunk(i);
            } catch (...) {
                err = std::current_exception();
            }
            std::lock_guard<std::mutex> lk(m_);
            if (err && !error_) error_ = err;
            if (--pending_ == 0) done_.notify_one();
        }
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lk(m_);
            quit_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
    }

    std::mutex job_m_, m_;
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
    int64_t n_ = 0;
    int chunks_ = 0;
    // Written under m_; atomic so that the spinning threads may read them without it.
    std::atomic<int> pending_{0};
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> quit_{false};
    std::exception_ptr error_;
};

int default_threads() {
    if (const char* v = std::getenv("NST_THREADS")) {
        const int n = std::atoi(v);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
    static Pool p = [] {
#ifdef NST_HAVE_OPENBLAS
        openblas_set_num_threads(1);  // see parallel.h: OpenBLAS runs inside our chunks
#endif
        return Pool(default_threads());
    }();
    return p;
}

}  // namespace

// Slots: 0 the im2col column buffer (conv2d_gemm.cpp), 1 Winograd's per-block V and M
// (conv2d_winograd.cpp). The Winograd kernels fall back to im2col only for other shapes, so no two users
// of one slot are ever live on one thread. (The GEMM keeps its own aligned packing buffers: gemm.cpp.)
float* thread_scratch(int slot, int64_t floats) {
    thread_local std::vector<float> buffers[kScratchSlots];
    if (slot < 0 || slot >= kScratchSlots) throw Error("thread_scratch: no slot " + std::to_string(slot));
    std::vector<float>& b = buffers[slot];
    if (int64_t(b.size()) < floats) b.resize(size_t(floats));
    return b.data();
}

void set_pool_threads(int n) { pool().resize(n); }
int pool_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    pool().run(n, grain, fn);
}

}  // namespace nst::cpu
