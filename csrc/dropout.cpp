// Philox4x32-10 and dropout (see dropout.h).
#include "dropout.h"

#include <algorithm>

#include "parallel.h"

namespace fastnn {

namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;  // key schedule increments

inline void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
    const uint64_t p = static_cast<uint64_t>(a) * b;
    *hi = static_cast<uint32_t>(p >> 32);
    *lo = static_cast<uint32_t>(p);
}

// Four words of stream block q (positions 4q .. 4q + 3).
inline void philox_block(uint32_t out[4], uint64_t q, uint64_t seed) {
    const uint32_t ctr[4] = {static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), 0u, 0u};
    const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
    philox4x32_10(out, ctr, key);
}

}  // namespace

void philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {  // the key advances between rounds
            k0 += kPhiloxW0;
            k1 += kPhiloxW1;
        }
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(kPhiloxM0, c0, &hi0, &lo0);
        mulhilo(kPhiloxM1, c2, &hi1, &lo1);
        const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

template <typename T>
void dropout_forward(T* out, const T* inp, int64_t n, uint64_t threshold, T scale, uint64_t seed,
                     uint64_t offset) {
    // Chunks of a multiple of 4 elements; each element's word depends only on its position,
    // so the chunking never shows in the result.
    parallel_for(0, n, 1 << 14, [&](int64_t i0, int64_t i1) {
        uint32_t words[4];
        uint64_t block = ~uint64_t(0);  // block held in `words`
        for (int64_t i = i0; i < i1; ++i) {
            const uint64_t j = offset + static_cast<uint64_t>(i);
            if (j / 4 != block) {
                block = j / 4;
                philox_block(words, block, seed);
            }
            const bool keep = words[j % 4] < threshold;
            out[i] = inp[i] * (keep ? scale : T(0));
        }
    });
}

template void dropout_forward<float>(float*, const float*, int64_t, uint64_t, float, uint64_t, uint64_t);
template void dropout_forward<double>(double*, const double*, int64_t, uint64_t, double, uint64_t, uint64_t);

}  // namespace fastnn
