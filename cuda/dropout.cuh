// Dropout on the device with the CPU kernel's counter-based stream (csrc/dropout.h): element
// i keeps or drops by Philox4x32-10 word (offset + i) % 4 of the block at counter
// (offset + i) / 4 under key seed, so for a given (seed, offset) the mask equals the CPU's
// bit for bit. out may equal inp (in place).
#pragma once

#include <cstdint>

namespace fastnn {
namespace cuda {

// out[i] = inp[i] * (word(offset + i) < threshold ? scale : 0), i in [0, n).
template <typename T>
void dropout_forward(T* out, const T* inp, int64_t n, uint64_t threshold, T scale, uint64_t seed, uint64_t offset);

}  // namespace cuda
}  // namespace fastnn
