// Dropout kernel (see dropout.cuh). Philox4x32-10 as in csrc/dropout.cpp (Salmon, Moraes,
// Dror, Shaw, SC 2011: multipliers 0xD2511F53, 0xCD9E8D57, Weyl increments 0x9E3779B9,
// 0xBB67AE85); one thread per element computes the block holding its word.
#include "dropout.cuh"

#include "check.cuh"
#include "device_utils.cuh"

namespace fastnn {
namespace cuda {

namespace {

// Word j % 4 of Philox4x32-10 at counter (low, high 32 bits of j / 4, 0, 0) and key
// (low, high 32 bits of seed).
__device__ inline uint32_t philox_word(uint64_t j, uint64_t seed) {
    const uint64_t q = j / 4;
    uint32_t c0 = static_cast<uint32_t>(q), c1 = static_cast<uint32_t>(q >> 32), c2 = 0u, c3 = 0u;
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {  // the key advances between rounds
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    const uint32_t w = j % 4;
    return w == 0 ? c0 : w == 1 ? c1 : w == 2 ? c2 : c3;
}

template <typename T>
__global__ void dropout_kernel(T* out, const T* inp, int64_t n, uint64_t threshold, T scale, uint64_t seed,
                               uint64_t offset) {
    for (int64_t i = global_index(); i < n; i += global_stride()) {
        const bool keep = uint64_t(philox_word(offset + uint64_t(i), seed)) < threshold;
        out[i] = inp[i] * (keep ? scale : T(0));  // dropped: inp * 0, so NaN and Inf stay NaN
    }
}

}  // namespace

template <typename T>
void dropout_forward(T* out, const T* inp, int64_t n, uint64_t threshold, T scale, uint64_t seed, uint64_t offset) {
    if (n == 0) return;
    dropout_kernel<T><<<grid_for(n), kThreads>>>(out, inp, n, threshold, scale, seed, offset);
    check_launch("dropout");
}

template void dropout_forward<float>(float*, const float*, int64_t, uint64_t, float, uint64_t, uint64_t);
template void dropout_forward<double>(double*, const double*, int64_t, uint64_t, double, uint64_t, uint64_t);

}  // namespace cuda
}  // namespace fastnn
