// Optimizer kernels (see optim.cuh). The per-element rules mirror csrc/optim.cpp's loops;
// the per-tensor scalars that depend on the step (Adam's bias corrections, Adagrad's decayed
// rate) are computed on the host in double, as torch does in Python, and rounded to T on
// the device.
#include "optim.cuh"

#include <cmath>
#include <cstring>

#include "check.cuh"
#include "memory.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr int64_t kChunk = 65536;      // elements per block
constexpr int kOptimThreads = 256;

// One tensor as the kernel sees it; s0, s1: per-tensor scalars (Adam: -lr / (1 - beta1^t)
// and sqrt(1 - beta2^t); Adagrad: -lr / (1 + (t - 1) lr_decay)).
struct TensorDesc {
    int64_t n;
    void* param;
    const void* grad;
    void* state[3];
    double s0, s1;
    int f64;
    int first_step;
};

// Chunk k covers elements [start, start + kChunk) of tensor `tensor` (clipped to its n).
struct ChunkDesc {
    int64_t tensor, start;
};

enum class Opt { sgd, adam, rmsprop, adagrad };

// All hyper-parameters of the four optimizers, by value (the unused ones are ignored).
struct Hyper {
    SgdOptions sgd;
    AdamOptions adam;
    RmspropOptions rms;
    AdagradOptions ada;
};

// torch.lerp's formula (ATen/native/Lerp.h), as csrc/optim.cpp.
template <typename T>
__device__ inline T lerp(T a, T b, T w, bool small_w) {
    return small_w ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

template <typename T>
__device__ inline T eff_grad(T g, bool maximize, bool wd_on, T p, T wd) {
    g = maximize ? -g : g;
    return wd_on ? g + wd * p : g;
}

template <typename T>
__device__ void sgd_elem(const TensorDesc& t, int64_t i, const SgdOptions& o) {
    T* param = static_cast<T*>(t.param);
    T* buf = static_cast<T*>(t.state[0]);
    const T p = param[i];
    T g = eff_grad(static_cast<const T*>(t.grad)[i], o.maximize, o.weight_decay != 0, p, T(o.weight_decay));
    if (o.momentum != 0) {
        const T mom = T(o.momentum);
        const T b = t.first_step ? g : mom * buf[i] + T(1 - o.dampening) * g;  // first step: the gradient, undamped
        buf[i] = b;
        g = o.nesterov ? g + mom * b : b;
    }
    param[i] = p - T(o.lr) * g;
}

template <typename T>
__device__ void adam_elem(const TensorDesc& t, int64_t i, const AdamOptions& o) {
    T* param = static_cast<T*>(t.param);
    T* m = static_cast<T*>(t.state[0]);
    T* v = static_cast<T*>(t.state[1]);
    T* vmax = static_cast<T*>(t.state[2]);
    const T decay = T(o.decoupled_weight_decay ? 1 - o.lr * o.weight_decay : 1.0);
    const T p = param[i] * decay;  // AdamW's decay comes first; 1 (exact) for Adam
    const bool wd_on = o.weight_decay != 0 && !o.decoupled_weight_decay;
    const T g = eff_grad(static_cast<const T*>(t.grad)[i], o.maximize, wd_on, param[i], T(o.weight_decay));
    const T mi = lerp(m[i], g, T(1 - o.beta1), fabs(1 - o.beta1) < 0.5);
    T vi = v[i] * T(o.beta2) + T(1 - o.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    if (o.amsgrad) {
        vi = vmax[i] < vi ? vi : vmax[i];  // std::max's order, as on the CPU
        vmax[i] = vi;
    }
    const T denom = sqrt(vi) / T(t.s1) + T(o.eps);
    param[i] = p + T(t.s0) * (mi / denom);
}

template <typename T>
__device__ void rmsprop_elem(const TensorDesc& t, int64_t i, const RmspropOptions& o) {
    T* param = static_cast<T*>(t.param);
    T* sq = static_cast<T*>(t.state[0]);
    T* ga = static_cast<T*>(t.state[1]);
    T* buf = static_cast<T*>(t.state[2]);
    const T g = eff_grad(static_cast<const T*>(t.grad)[i], o.maximize, o.weight_decay != 0, param[i],
                         T(o.weight_decay));
    const T w = T(1 - o.alpha);
    const T s = sq[i] * T(o.alpha) + w * g * g;
    sq[i] = s;
    T avg;
    if (o.centered) {
        const T a = lerp(ga[i], g, w, fabs(1 - o.alpha) < 0.5);
        ga[i] = a;
        avg = sqrt(s - a * a) + T(o.eps);
    } else {
        avg = sqrt(s) + T(o.eps);
    }
    if (o.momentum > 0) {
        const T b = buf[i] * T(o.momentum) + g / avg;
        buf[i] = b;
        param[i] = param[i] + T(-o.lr) * b;
    } else {
        param[i] = param[i] + T(-o.lr) * (g / avg);
    }
}

template <typename T>
__device__ void adagrad_elem(const TensorDesc& t, int64_t i, const AdagradOptions& o) {
    T* param = static_cast<T*>(t.param);
    T* sum = static_cast<T*>(t.state[0]);
    const T g = eff_grad(static_cast<const T*>(t.grad)[i], o.maximize, o.weight_decay != 0, param[i],
                         T(o.weight_decay));
    const T s = sum[i] + g * g;
    sum[i] = s;
    param[i] = param[i] + T(t.s0) * (g / (sqrt(s) + T(o.eps)));
}

template <Opt K, typename T>
__device__ inline void update(const TensorDesc& t, int64_t i, const Hyper& h) {
    if constexpr (K == Opt::sgd) sgd_elem<T>(t, i, h.sgd);
    else if constexpr (K == Opt::adam) adam_elem<T>(t, i, h.adam);
    else if constexpr (K == Opt::rmsprop) rmsprop_elem<T>(t, i, h.rms);
    else adagrad_elem<T>(t, i, h.ada);
}

// Block b updates chunks b, b + gridDim.x, ...; the dtype branch is uniform per chunk.
template <Opt K>
__global__ void __launch_bounds__(kOptimThreads)
optim_kernel(const TensorDesc* tensors, const ChunkDesc* chunks, int64_t n_chunks, Hyper h) {
    for (int64_t k = blockIdx.x; k < n_chunks; k += gridDim.x) {
        const TensorDesc t = tensors[chunks[k].tensor];
        const int64_t start = chunks[k].start;
        const int64_t end = start + kChunk < t.n ? start + kChunk : t.n;
        for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
            if (t.f64) update<K, double>(t, i, h);
            else update<K, float>(t, i, h);
        }
    }
}

// Builds the tensor and chunk tables, copies them to the device in one transfer, launches.
template <Opt K>
void run(const char* op, const std::vector<OptimTensor>& ts, const Hyper& h,
         void (*scalars)(const OptimTensor&, const Hyper&, double*, double*)) {
    std::vector<TensorDesc> descs(ts.size());
    std::vector<ChunkDesc> chunks;
    for (size_t k = 0; k < ts.size(); ++k) {
        const OptimTensor& t = ts[k];
        TensorDesc& d = descs[k];
        d.n = t.n;
        d.param = t.param;
        d.grad = t.grad;
        for (int s = 0; s < 3; ++s) d.state[s] = t.state[s];
        d.s0 = d.s1 = 0;
        if (scalars) scalars(t, h, &d.s0, &d.s1);
        d.f64 = t.f64 ? 1 : 0;
        d.first_step = t.first_step ? 1 : 0;
        for (int64_t start = 0; start < t.n; start += kChunk) chunks.push_back({int64_t(k), start});
    }
    if (chunks.empty()) return;
    const size_t tbytes = descs.size() * sizeof(TensorDesc), cbytes = chunks.size() * sizeof(ChunkDesc);
    std::vector<unsigned char> host(tbytes + cbytes);
    std::memcpy(host.data(), descs.data(), tbytes);
    std::memcpy(host.data() + tbytes, chunks.data(), cbytes);
    Scratch<unsigned char> table(int64_t(host.size()), op);
    check(cudaMemcpy(table.get(), host.data(), host.size(), cudaMemcpyHostToDevice), op, "copying the tensor table");
    const int64_t n_chunks = int64_t(chunks.size());
    const unsigned grid = static_cast<unsigned>(n_chunks < 65535 ? n_chunks : 65535);
    // tbytes is a multiple of alignof(ChunkDesc) (both structs hold 8-byte members).
    optim_kernel<K><<<grid, kOptimThreads>>>(reinterpret_cast<const TensorDesc*>(table.get()),
                                             reinterpret_cast<const ChunkDesc*>(table.get() + tbytes), n_chunks, h);
    check_launch(op);
}

}  // namespace

void sgd_step(const std::vector<OptimTensor>& ts, const SgdOptions& o) {
    Hyper h;
    h.sgd = o;
    run<Opt::sgd>("sgd_step_", ts, h, nullptr);
}

void adam_step(const std::vector<OptimTensor>& ts, const AdamOptions& o) {
    Hyper h;
    h.adam = o;
    run<Opt::adam>("adam_step_", ts, h, [](const OptimTensor& t, const Hyper& h, double* s0, double* s1) {
        const double bc1 = 1 - std::pow(h.adam.beta1, double(t.step));
        const double bc2 = 1 - std::pow(h.adam.beta2, double(t.step));
        *s0 = -(h.adam.lr / bc1);
        *s1 = std::sqrt(bc2);
    });
}

void rmsprop_step(const std::vector<OptimTensor>& ts, const RmspropOptions& o) {
    Hyper h;
    h.rms = o;
    run<Opt::rmsprop>("rmsprop_step_", ts, h, nullptr);
}

void adagrad_step(const std::vector<OptimTensor>& ts, const AdagradOptions& o) {
    Hyper h;
    h.ada = o;
    run<Opt::adagrad>("adagrad_step_", ts, h, [](const OptimTensor& t, const Hyper& h, double* s0, double*) {
        *s0 = -(h.ada.lr / (1 + double(t.step - 1) * h.ada.lr_decay));
    });
}

}  // namespace cuda
}  // namespace fastnn
