// Host-side error checks for the CUDA module: every runtime call and every kernel launch goes
// through check() / check_launch(), which turn a CUDA error into std::runtime_error (Python
// RuntimeError) naming the op: "[conv2d] CUDA error in kernel launch: cudaErrorX: ...".
// Plain C++ (no device code): included by the .cu files and by bindings_cuda.cpp alike.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastnn {
namespace cuda {

[[noreturn]] inline void throw_cuda_error(const char* op, const char* what, cudaError_t e) {
    throw std::runtime_error(std::string("[") + op + "] CUDA error in " + what + ": " + cudaGetErrorName(e) +
                             ": " + cudaGetErrorString(e));
}

// Throws unless e is cudaSuccess.
inline void check(cudaError_t e, const char* op, const char* what) {
    if (e != cudaSuccess) throw_cuda_error(op, what, e);
}

// Called right after every <<<...>>>: a bad configuration fails here; a fault inside the
// kernel surfaces at the next synchronising call (a copy back to the host), also named.
inline void check_launch(const char* op) { check(cudaGetLastError(), op, "kernel launch"); }

// Threads per block of the elementwise kernels, and the grid of a grid-stride loop over n
// items (at least 1 block; capped, the loop covers the rest).
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n, int threads = kThreads) {
    const int64_t blocks = (n + threads - 1) / threads;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

}  // namespace cuda
}  // namespace fastnn
