// The host block cache of memory.h: size classes of at most 12.5% slack, a free list per
// class under one mutex, and an idle-byte cap above which freed blocks go back to the
// system.
#include "memory.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace fastnn {
namespace {

// The size class of a cacheable request: rounded up to a multiple of 1/8 of its highest
// power of two, so a batch of slightly different shape (the last, smaller one) still finds
// the blocks of the others most of the time, and no block is more than 12.5% too large.
size_t size_class(size_t bytes) {
    size_t top = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(bytes)));
    size_t step = top >= 64 * 8 ? top / 8 : 64;
    return (bytes + step - 1) / step * step;
}

void* system_alloc(size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
}

struct Cache {
    std::mutex mu;
    std::unordered_map<size_t, std::vector<void*>> free_lists;
    HostCacheStats stats;

    ~Cache() { release_all(); }
    void release_all() {
        for (auto& [size, list] : free_lists)
            for (void* p : list) std::free(p);
        free_lists.clear();
        stats.idle_bytes = stats.idle_blocks = 0;
    }
};

Cache& cache() {
    static Cache* c = new Cache;  // never destroyed: arrays may be freed during interpreter exit
    return *c;
}

}  // namespace

void* host_alloc(size_t bytes) {
    if (bytes < kHostCacheMinBytes) return system_alloc(bytes == 0 ? 64 : bytes);
    const size_t cls = size_class(bytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mu);
        auto it = c.free_lists.find(cls);
        if (it != c.free_lists.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.stats.idle_bytes -= cls;
            c.stats.idle_blocks -= 1;
            c.stats.hits += 1;
            return p;
        }
        c.stats.misses += 1;
    }
    return system_alloc(cls);
}

void host_free(void* ptr, size_t bytes) {
    if (!ptr) return;
    if (bytes < kHostCacheMinBytes) {
        std::free(ptr);
        return;
    }
    const size_t cls = size_class(bytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mu);
        if (c.stats.idle_bytes + cls <= kHostCacheMaxIdleBytes) {
            c.free_lists[cls].push_back(ptr);
            c.stats.idle_bytes += cls;
            c.stats.idle_blocks += 1;
            return;
        }
    }
    std::free(ptr);
}

HostCacheStats host_cache_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    return c.stats;
}

void host_empty_cache() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    c.release_all();
}

}  // namespace fastnn
