// The device caching allocator (see memory.cuh). Host-only code: compiled by the C++
// compiler, not nvcc. Idle blocks live in a multimap keyed by rounded size, under one mutex.
#include "memory.cuh"

#include <cuda_runtime.h>

#include <map>
#include <mutex>

#include "check.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr size_t kSmallAlign = 512;
constexpr size_t kLargeAlign = size_t(1) << 20;

struct Cache {
    std::mutex mu;
    std::multimap<size_t, void*> idle;  // rounded size -> block
    DeviceCacheStats stats;
};

// Never destroyed: blocks freed during interpreter shutdown (after static destructors, or
// after the CUDA runtime unloaded) must still find it. The process exit releases the memory.
Cache& cache() {
    static Cache* c = new Cache();
    return *c;
}

void free_idle_locked(Cache& c) {
    for (auto& kv : c.idle) cudaFree(kv.second);  // errors ignored: the block is gone either way
    c.idle.clear();
    c.stats.cached_bytes = 0;
    c.stats.cached_blocks = 0;
}

}  // namespace

size_t device_round_size(size_t bytes) {
    const size_t align = bytes >= kLargeAlign ? kLargeAlign : kSmallAlign;
    return (bytes + align - 1) / align * align;
}

void* device_alloc(size_t bytes, const char* op) {
    if (bytes == 0) return nullptr;
    const size_t size = device_round_size(bytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.idle.find(size);
    void* p = nullptr;
    if (it != c.idle.end()) {
        p = it->second;
        c.idle.erase(it);
        c.stats.cached_bytes -= size;
        c.stats.cached_blocks -= 1;
        c.stats.hits += 1;
    } else {
        cudaError_t e = cudaMalloc(&p, size);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();  // clear it, give the idle blocks back, and try once more
            free_idle_locked(c);
            e = cudaMalloc(&p, size);
        }
        if (e != cudaSuccess) {
            cudaGetLastError();
            throw std::runtime_error(std::string("[") + op + "] cannot allocate " + std::to_string(size) +
                                     " bytes of device memory: " + cudaGetErrorName(e) + ": " +
                                     cudaGetErrorString(e));
        }
        c.stats.misses += 1;
    }
    c.stats.allocated_bytes += size;
    c.stats.allocated_blocks += 1;
    if (c.stats.allocated_bytes > c.stats.peak_allocated_bytes) c.stats.peak_allocated_bytes = c.stats.allocated_bytes;
    return p;
}

void device_free(void* p, size_t bytes) {
    if (!p) return;
    const size_t size = device_round_size(bytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    c.idle.emplace(size, p);
    c.stats.allocated_bytes -= size;
    c.stats.allocated_blocks -= 1;
    c.stats.cached_bytes += size;
    c.stats.cached_blocks += 1;
}

DeviceCacheStats device_cache_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    return c.stats;
}

void device_empty_cache() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    free_idle_locked(c);
}

}  // namespace cuda
}  // namespace fastnn
