// Device memory for the CUDA module: a caching allocator in front of cudaMalloc. Freed
// blocks stay cached by size class and are handed out again (all work runs on the default
// stream, so a block freed after a kernel was queued is only reused by work queued after
// it). A failed cudaMalloc empties the cache and tries once more. Device 0 only in phase 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fastnn {
namespace cuda {

// Blocks are rounded up to a multiple of 512 bytes, or of 1 MiB from 1 MiB on; a cached
// block is reused only for a request of the same rounded size.
size_t device_round_size(size_t bytes);

// A device allocation of at least `bytes` (nullptr for 0), from the cache when one fits.
// Throws std::runtime_error naming `op` when the device is out of memory.
void* device_alloc(size_t bytes, const char* op);
// Gives p (from device_alloc(bytes)) back to the cache; never fails.
void device_free(void* p, size_t bytes);

struct DeviceCacheStats {
    size_t allocated_bytes = 0, allocated_blocks = 0;  // handed out now (rounded sizes)
    size_t cached_bytes = 0, cached_blocks = 0;        // idle in the cache
    size_t peak_allocated_bytes = 0;
    uint64_t hits = 0, misses = 0;                     // requests served from the cache / by cudaMalloc
};
DeviceCacheStats device_cache_stats();

// cudaFree every idle block. Blocks in use are not affected.
void device_empty_cache();

// An owned device allocation: returns its memory to the cache when destroyed. Shared by
// every array viewing it (reshape) and by exported DLPack tensors.
class DeviceBlock {
public:
    DeviceBlock(size_t bytes, const char* op) : ptr_(device_alloc(bytes, op)), bytes_(bytes) {}
    ~DeviceBlock() { device_free(ptr_, bytes_); }
    DeviceBlock(const DeviceBlock&) = delete;
    DeviceBlock& operator=(const DeviceBlock&) = delete;
    void* data() const { return ptr_; }
    size_t bytes() const { return bytes_; }

private:
    void* ptr_;
    size_t bytes_;
};

// Scratch memory for one kernel call (im2col columns, partial sums): a block from the cache,
// typed, freed when it goes out of scope.
template <typename T>
class Scratch {
public:
    Scratch(int64_t count, const char* op)
        : block_(std::make_shared<DeviceBlock>(static_cast<size_t>(count) * sizeof(T), op)) {}
    T* get() const { return static_cast<T*>(block_->data()); }

private:
    std::shared_ptr<DeviceBlock> block_;
};

}  // namespace cuda
}  // namespace fastnn
