// Thread pool behind parallel_for. A region publishes `generation_` = (sequence << 32 |
// chunk count), so a worker reads both in one atomic load; workers notice it while spinning
// (for up to kSpinTime after their last job) or are woken from the condition variable once
// they have gone to sleep. Chunks are claimed one at a time from `next_` = (sequence << 32
// | next chunk): a claim succeeds only while the sequence matches, so a thread waking late
// for a finished region can never take a chunk of a newer one. A worker that is asleep or
// descheduled (a busy machine, another pool in the process) delays nothing it has not begun.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace fastnn {

namespace {

using Clock = std::chrono::steady_clock;
// How long an idle worker, or the caller waiting for workers, spins before it sleeps or
// yields. Long enough to bridge back-to-back kernel calls, short enough not to starve a
// second thread pool sharing the cores.
constexpr auto kSpinTime = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

int default_num_threads() {
    if (const char* env = std::getenv("FASTNN_NUM_THREADS")) {
        char* end = nullptr;
        long n = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    }
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
#endif
    unsigned n = std::thread::hardware_concurrency();
    return n >= 1 ? static_cast<int>(n) : 1;
}

class ThreadPool {
public:
    explicit ThreadPool(int nworkers) {
        workers_.reserve(nworkers);
        for (int i = 0; i < nworkers; ++i) workers_.emplace_back([this] { worker_loop(); });
    }

    ~ThreadPool() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            stop_.store(true, std::memory_order_release);
        }
        cv_.notify_all();
        for (auto& t : workers_) t.join();
    }

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Runs job(i) once for each chunk i in [0, nchunks); the caller takes part and returns
    // when every chunk is done.
    void run(int64_t nchunks, const std::function<void(int64_t)>& job) {
        job_ = &job;
        error_ = nullptr;
        done_.store(0, std::memory_order_relaxed);
        uint64_t gen;
        {
            std::lock_guard<std::mutex> lk(mutex_);
            const uint64_t seq = ((generation_.load(std::memory_order_relaxed) >> 32) + 1) & 0xffffffffu;
            next_.store(seq << 32, std::memory_order_relaxed);
            gen = (seq << 32) | static_cast<uint64_t>(nchunks);
            generation_.store(gen, std::memory_order_release);
        }
        if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();

        claim_and_run(gen);

        auto start = Clock::now();
        unsigned spins = 0;
        while (done_.load(std::memory_order_acquire) != nchunks) {
            if (++spins % 64 == 0 && Clock::now() - start > kSpinTime)
                std::this_thread::yield();
            else
                cpu_relax();
        }
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    // Claims and runs chunks of region `gen` until none is left. A successful claim means
    // the region is still running (its chunk is not done), so job_ is still its job.
    void claim_and_run(uint64_t gen) {
        const uint64_t seq = gen >> 32;
        const uint64_t n = gen & 0xffffffffu;
        uint64_t cur = next_.load(std::memory_order_acquire);
        while ((cur >> 32) == seq && (cur & 0xffffffffu) < n) {
            if (next_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel)) {
                run_one(static_cast<int64_t>(cur & 0xffffffffu));
                done_.fetch_add(1, std::memory_order_acq_rel);
                cur = next_.load(std::memory_order_acquire);
            }
        }
    }

    void run_one(int64_t i) {
        try {
            (*job_)(i);
        } catch (...) {
            std::lock_guard<std::mutex> lk(error_mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }

    void worker_loop() {
        // The generation the pool was built with (0), not whatever it is by the time this
        // thread starts: a region may already have been posted.
        uint64_t seen = 0;
        for (;;) {
            auto start = Clock::now();
            unsigned spins = 0;
            uint64_t gen;
            while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
                if (stop_.load(std::memory_order_acquire)) return;
                cpu_relax();
                if (++spins % 64 == 0 && Clock::now() - start > kSpinTime) {
                    std::unique_lock<std::mutex> lk(mutex_);
                    sleepers_.fetch_add(1, std::memory_order_acq_rel);
                    cv_.wait(lk, [&] {
                        return generation_.load(std::memory_order_acquire) != seen ||
                               stop_.load(std::memory_order_acquire);
                    });
                    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
                    start = Clock::now();
                }
            }
            seen = gen;
            claim_and_run(gen);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<uint64_t> next_{0};
    std::atomic<int64_t> done_{0};
    std::atomic<bool> stop_{false};
    const std::function<void(int64_t)>* job_ = nullptr;
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

std::mutex g_config_mutex;        // guards g_num_threads and g_pool's lifetime
std::mutex g_region_mutex;        // one parallel region at a time
std::atomic<int> g_num_threads{0};
ThreadPool* g_pool = nullptr;
thread_local bool t_in_region = false;

#if defined(__linux__)
// A forked child has none of the parent's workers: forget the pool (leaking it, since its
// threads and locks are not ours to touch) and build a fresh one on first use.
void after_fork_in_child() {
    new (&g_config_mutex) std::mutex();
    new (&g_region_mutex) std::mutex();
    g_pool = nullptr;
    t_in_region = false;
}
const int g_atfork_registered = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif

// The pool, sized to get_num_threads(); called with g_region_mutex held.
ThreadPool* the_pool() {
    int n = get_num_threads();
    std::lock_guard<std::mutex> lk(g_config_mutex);
    if (!g_pool || g_pool->size() != n) {
        delete g_pool;
        g_pool = nullptr;
        g_pool = new ThreadPool(n - 1);
    }
    return g_pool;
}

}  // namespace

int get_num_threads() {
    int n = g_num_threads.load(std::memory_order_relaxed);
    if (n == 0) {
        n = default_num_threads();
        g_num_threads.store(n, std::memory_order_relaxed);
    }
    return n;
}

void set_num_threads(int n) {
    if (n < 1 || n > 0xffff)
        throw std::invalid_argument("set_num_threads: expected 1 <= n <= 65535, got " + std::to_string(n));
    std::lock_guard<std::mutex> region(g_region_mutex);  // never resize under a running region
    std::lock_guard<std::mutex> lk(g_config_mutex);
    g_num_threads.store(n, std::memory_order_relaxed);
    if (g_pool && g_pool->size() != n) {
        delete g_pool;
        g_pool = nullptr;
    }
}

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f) {
    if (end <= begin) return;
    const int64_t n = end - begin;
    // At most 2^32 - 1 chunks fit the pool's counters: widen the grain if need be.
    grain = std::max<int64_t>({grain, 1, (n + 0xfffffffe) / 0xffffffff});
    const int64_t nchunks = (n + grain - 1) / grain;
    if (nchunks <= 1 || get_num_threads() <= 1 || t_in_region) {
        f(begin, end);
        return;
    }
    std::unique_lock<std::mutex> region(g_region_mutex, std::try_to_lock);
    if (!region.owns_lock()) {  // another thread holds the pool: do the work here
        f(begin, end);
        return;
    }
    ThreadPool* pool = the_pool();
    std::function<void(int64_t)> job = [&](int64_t i) {
        const int64_t lo = begin + i * grain;
        const int64_t hi = std::min(end, lo + grain);
        bool was = t_in_region;
        t_in_region = true;
        try {
            f(lo, hi);
        } catch (...) {
            t_in_region = was;
            throw;
        }
        t_in_region = was;
    };
    pool->run(nchunks, job);
}

}  // namespace fastnn
