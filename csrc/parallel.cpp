// Thread pool behind parallel_for. A region bumps `generation_`, whose low 16 bits carry the
// region's chunk count so that a worker reads both in one atomic load; workers notice it
// while spinning (for up to kSpinTime after their last job) or are woken from the condition
// variable once they have gone to sleep. Chunks are claimed, not assigned: each thread
// starts with its own chunk and then takes any chunk nobody has started, so a worker that
// is asleep or descheduled (a busy machine, another pool in the process) delays nothing it
// has not begun. Which thread runs a chunk never changes what the chunk computes.
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
    explicit ThreadPool(int nworkers) : slots_(new std::atomic<uint64_t>[nworkers + 1]) {
        for (int i = 0; i <= nworkers; ++i) slots_[i].store(0, std::memory_order_relaxed);
        workers_.reserve(nworkers);
        for (int i = 0; i < nworkers; ++i) workers_.emplace_back([this, i] { worker_loop(i + 1); });
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

    // Runs job(i) once for each chunk i in [0, nchunks), nchunks <= size(); the caller
    // takes part and returns when every chunk is done.
    void run(int nchunks, const std::function<void(int)>& job) {
        job_ = &job;
        error_ = nullptr;
        done_.store(0, std::memory_order_relaxed);
        uint64_t gen;
        {
            std::lock_guard<std::mutex> lk(mutex_);
            uint64_t seq = (generation_.load(std::memory_order_relaxed) >> 16) + 1;
            gen = (seq << 16) | static_cast<uint64_t>(nchunks);
            generation_.store(gen, std::memory_order_release);
        }
        if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();

        claim_and_run(gen, 0);

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
    // Runs every chunk of region `gen` that is still unclaimed, starting at `first`. A slot
    // holds the sequence number of the last region that claimed it, so a thread that wakes
    // late for a finished region finds nothing to claim and never touches a newer one.
    void claim_and_run(uint64_t gen, int first) {
        const uint64_t seq = gen >> 16;
        const int n = static_cast<int>(gen & 0xffff);
        for (int k = 0; k < n; ++k) {
            const int i = (first + k) % n;
            uint64_t cur = slots_[i].load(std::memory_order_acquire);
            if (cur < seq && slots_[i].compare_exchange_strong(cur, seq, std::memory_order_acq_rel)) {
                run_one(i);
                done_.fetch_add(1, std::memory_order_acq_rel);
            }
        }
    }

    void run_one(int i) {
        try {
            (*job_)(i);
        } catch (...) {
            std::lock_guard<std::mutex> lk(error_mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }

    void worker_loop(int id) {
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
            claim_and_run(gen, id % static_cast<int>(gen & 0xffff));
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> sleepers_{0};
    std::atomic<int> done_{0};
    std::unique_ptr<std::atomic<uint64_t>[]> slots_;
    std::atomic<bool> stop_{false};
    const std::function<void(int)>* job_ = nullptr;
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
    if (grain < 1) grain = 1;
    const int64_t n = end - begin;
    int64_t nchunks = std::min<int64_t>(get_num_threads(), (n + grain - 1) / grain);
    if (nchunks <= 1 || t_in_region) {
        f(begin, end);
        return;
    }
    std::unique_lock<std::mutex> region(g_region_mutex, std::try_to_lock);
    if (!region.owns_lock()) {  // another thread holds the pool: do the work here
        f(begin, end);
        return;
    }
    ThreadPool* pool = the_pool();
    nchunks = std::min<int64_t>(nchunks, pool->size());
    // Balanced contiguous chunks: the first (n % nchunks) get one extra item.
    const int64_t base = n / nchunks, extra = n % nchunks;
    std::function<void(int)> job = [&](int t) {
        int64_t lo = begin + t * base + std::min<int64_t>(t, extra);
        int64_t hi = lo + base + (t < extra ? 1 : 0);
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
    pool->run(static_cast<int>(nchunks), job);
}

}  // namespace fastnn
