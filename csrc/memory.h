// Host memory for kernel outputs: a cache of large 64-byte-aligned blocks. A training step
// allocates and frees the same few large arrays every iteration; taking them from the
// system each time costs a page fault per 4 KiB touched (measured: ~6,000 faults and a
// third of the wall time of a small CNN's step). Freed blocks are kept, by size class, up
// to a cap, and handed out again; blocks below kHostCacheMinBytes go straight to the
// system allocator, which serves small sizes from its heap without faulting.
#pragma once

#include <cstddef>

namespace fastnn {

constexpr size_t kHostCacheMinBytes = size_t(256) << 10;   // smaller blocks are not cached
constexpr size_t kHostCacheMaxIdleBytes = size_t(1) << 30;  // idle bytes kept at most

// At least `bytes` bytes, 64-byte aligned, uninitialised; throws std::bad_alloc. Release
// with host_free(ptr, bytes) passing the same `bytes`. Thread-safe.
void* host_alloc(size_t bytes);
void host_free(void* ptr, size_t bytes);

struct HostCacheStats {
    size_t idle_bytes = 0;    // held in the cache, free for reuse
    size_t idle_blocks = 0;
    size_t hits = 0;          // allocations served from the cache
    size_t misses = 0;        // cacheable allocations that went to the system
};
HostCacheStats host_cache_stats();

// Return every idle block to the system.
void host_empty_cache();

}  // namespace fastnn
