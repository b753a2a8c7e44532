// Device helpers shared by the kernels: grid-stride index loops and a deterministic
// block-wide sum in double (fixed tree order: the same bits on every run).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fastnn {
namespace cuda {

// First index and stride of a 1-D grid-stride loop, in int64 (arrays may exceed 2^31 elements).
__device__ inline int64_t global_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t global_stride() { return int64_t(gridDim.x) * blockDim.x; }

// Sum of v over the block's threads (blockDim.x a multiple of 32, at most 1024), returned to
// every thread. Lanes combine by shuffles, then warp 0 combines the warp sums; `scratch` is
// __shared__ double[32]. Contains __syncthreads: every thread of the block must call it.
__device__ inline double block_sum(double v, double* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace cuda
}  // namespace fastnn
