// CPU code paths: which vector ISA the kernels use. Chosen once at import from the CPU's
// features (or forced through FASTNN_CPU_CAPABILITY, read by the Python package), and
// switchable at run time so that tests can exercise every path the machine supports.
#pragma once

#include <string>

namespace fastnn {

enum class CpuCapability { scalar = 0, avx2 = 1, avx512 = 2 };

const char* capability_name(CpuCapability cap);
// Parses "scalar" / "avx2" / "avx512"; returns false for anything else.
bool parse_capability(const std::string& name, CpuCapability* out);
// True when this build carries the path and this CPU (and OS) can run it.
bool cpu_supports(CpuCapability cap);
// The best path this CPU supports.
CpuCapability best_capability();
// The path in use; defaults to best_capability().
CpuCapability cpu_capability();
// Selects a path; throws std::invalid_argument when cpu_supports(cap) is false.
void set_cpu_capability(CpuCapability cap);

}  // namespace fastnn
