// Feature detection for the runtime ISA dispatch. GCC/Clang's __builtin_cpu_supports checks
// both the CPUID bits and that the OS saves the wider register state (XCR0).
#include "cpu.h"

#include <atomic>
#include <stdexcept>

namespace fastnn {

namespace {

std::atomic<int> g_capability{-1};

}  // namespace

const char* capability_name(CpuCapability cap) {
    switch (cap) {
        case CpuCapability::scalar: return "scalar";
        case CpuCapability::avx2: return "avx2";
        case CpuCapability::avx512: return "avx512";
    }
    return "unknown";
}

bool parse_capability(const std::string& name, CpuCapability* out) {
    for (CpuCapability cap : {CpuCapability::scalar, CpuCapability::avx2, CpuCapability::avx512}) {
        if (name == capability_name(cap)) {
            *out = cap;
            return true;
        }
    }
    return false;
}

bool cpu_supports(CpuCapability cap) {
    switch (cap) {
        case CpuCapability::scalar: return true;
#if defined(FASTNN_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
        case CpuCapability::avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case CpuCapability::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
                   __builtin_cpu_supports("fma");
#else
        default: return false;
#endif
    }
    return false;
}

CpuCapability best_capability() {
    if (cpu_supports(CpuCapability::avx512)) return CpuCapability::avx512;
    if (cpu_supports(CpuCapability::avx2)) return CpuCapability::avx2;
    return CpuCapability::scalar;
}

CpuCapability cpu_capability() {
    int cap = g_capability.load(std::memory_order_relaxed);
    if (cap < 0) {
        cap = static_cast<int>(best_capability());
        g_capability.store(cap, std::memory_order_relaxed);
    }
    return static_cast<CpuCapability>(cap);
}

void set_cpu_capability(CpuCapability cap) {
    if (!cpu_supports(cap)) {
        throw std::invalid_argument(std::string("CPU code path '") + capability_name(cap) +
                                    "' is not supported by this CPU or build (best: '" +
                                    capability_name(best_capability()) + "')");
    }
    g_capability.store(static_cast<int>(cap), std::memory_order_relaxed);
}

}  // namespace fastnn
