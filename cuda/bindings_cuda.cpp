// _C_cuda: the CUDA module. For now it answers what the runtime can see: whether a usable
// device exists, how many, and why not when none is. Kernels arrive in later .cu files that
// mirror csrc/ in namespace fastnn::cuda.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

namespace {

// Returns the number of visible devices, or -1 with `why` set when the runtime cannot be used
// (no driver, no device, driver too old for this runtime).
int query_device_count(std::string* why) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
        cudaGetLastError();  // clear the sticky error so a later query starts clean
        return -1;
    }
    if (count == 0 && why) *why = "no CUDA device is visible";
    return count;
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
    m.doc() = "fastnn CUDA module";
    m.attr("cuda_version") = FASTNN_CUDA_VERSION;
    m.def("device_count", []() {
        int n = query_device_count(nullptr);
        return n < 0 ? 0 : n;
    }, "Number of CUDA devices the runtime can use (0 without a driver or device).");
    m.def("is_available", []() { return query_device_count(nullptr) > 0; },
          "True when at least one CUDA device is usable.");
    m.def("unavailable_reason", []() {
        std::string why;
        int n = query_device_count(&why);
        return n > 0 ? std::string() : why;
    }, "Why no CUDA device is usable, or an empty string when one is.");
}
