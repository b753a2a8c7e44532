// Dropout with a counter-based generator: element i of a call keeps or drops by a Philox
// draw at counter position offset + i under key seed, so a mask is reproducible from
// (seed, offset) alone, identical for any thread count, and never stored: the backward
// regenerates it. Outputs are overwritten (out may alias inp for the in-place variant).
#pragma once

#include <cstdint>

namespace fastnn {

// Philox4x32-10: ten rounds of the Philox-4x32 bijection of a 128-bit counter under a 64-bit
// key (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
// multipliers 0xD2511F53, 0xCD9E8D57 and Weyl key increments 0x9E3779B9, 0xBB67AE85 from
// that paper). out (4), ctr (4), key (2).
void philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

// The random word of stream position j: word j % 4 of philox4x32_10 at counter
// (low 32 bits of j / 4, high 32 bits of j / 4, 0, 0) and key (low, high 32 bits of seed).
//
// out[i] = inp[i] * (word(offset + i) < threshold ? scale : 0) for i in [0, n): kept with
// probability threshold / 2^32 (threshold in [0, 2^32]). Dropped elements are inp * 0, so
// NaN and Inf stay NaN, as in torch. inp, out (n); out may equal inp.
template <typename T>
void dropout_forward(T* out, const T* inp, int64_t n, uint64_t threshold, T scale, uint64_t seed,
                     uint64_t offset);

}  // namespace fastnn
