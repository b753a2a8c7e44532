// Optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad), in place, elementwise, following
// PyTorch's single-tensor implementations (torch/optim/*.py) operation for operation.
// Two layers: `<opt>_update<T>` updates one contiguous parameter range and its state;
// `<opt>_step` runs one update over a whole list of parameters in a single parallel region.
// Parameters and state are overwritten in place; gradients are only read. Every element is
// computed independently, so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace fastnn {

// Hyper-parameters, as torch.optim names them. Options a kernel leaves unused are ignored.
struct SgdOptions {
    double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false, maximize = false;
};

struct AdamOptions {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
    bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
};

struct RmspropOptions {
    double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
    bool centered = false, maximize = false;
};

struct AdagradOptions {
    double lr = 1e-2, lr_decay = 0, weight_decay = 0, eps = 1e-10;
    bool maximize = false;
};

// One parameter of a list update: n contiguous elements of float (f64 == false) or double
// in `param`, `grad` and each state array in use (the state a given optimizer does not use
// is nullptr). `step` is the parameter's step number counted from 1 after this update's
// increment (Adam, Adagrad); `first_step` marks a fresh SGD momentum buffer.
struct OptimTensor {
    int64_t n = 0;
    bool f64 = false;
    void* param = nullptr;
    const void* grad = nullptr;
    void* state[3] = {nullptr, nullptr, nullptr};
    int64_t step = 1;
    bool first_step = false;
};

// ---- per-range kernels: element i in [0, n) of each pointer; all pointers of length n ----

// g = ±grad (+ wd*param); with momentum: buf = first_step ? g : momentum*buf + (1-dampening)*g,
// g = nesterov ? g + momentum*buf : buf; then param -= lr*g.
// momentum_buffer: nullptr when momentum == 0 (never read when first_step).
template <typename T>
void sgd_update(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o,
                bool first_step);

// Adam (Kingma & Ba, algorithm 1, with torch's arrangement of eps): g = ±grad (+ wd*param,
// or param *= 1 - lr*wd when decoupled); m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g;
// vmax = max(vmax, v) with amsgrad (the raw v, not bias-corrected);
// param -= lr/(1-beta1^step) * m / (sqrt(v or vmax)/sqrt(1-beta2^step) + eps).
// exp_avg, exp_avg_sq: m, v. max_exp_avg_sq: vmax, nullptr unless amsgrad.
template <typename T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
                 const AdamOptions& o, int64_t step);

// g = ±grad (+ wd*param); sq = alpha*sq + (1-alpha)*g*g; centered: ga = lerp(ga, g, 1-alpha),
// avg = sqrt(sq - ga*ga) + eps, else avg = sqrt(sq) + eps; with momentum:
// buf = momentum*buf + g/avg, param -= lr*buf; else param -= lr*g/avg.
// grad_avg: nullptr unless centered; momentum_buffer: nullptr unless momentum > 0.
template <typename T>
void rmsprop_update(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad,
                    int64_t n, const RmspropOptions& o);

// g = ±grad (+ wd*param); sum += g*g; param -= lr/(1 + (step-1)*lr_decay) * g/(sqrt(sum) + eps).
template <typename T>
void adagrad_update(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o,
                    int64_t step);

// ---- list updates: every OptimTensor's arrays as the per-range kernel above describes ----
// state[0..2]: SGD (momentum_buffer); Adam (exp_avg, exp_avg_sq, max_exp_avg_sq);
// RMSprop (square_avg, grad_avg, momentum_buffer); Adagrad (state_sum).
// The elements of all tensors form one flat index space, cut into fixed chunks of
// kOptimGrain that may span tensor boundaries. Multi-threaded; no arrays may overlap.
constexpr int64_t kOptimGrain = 16384;

void sgd_step(const std::vector<OptimTensor>& tensors, const SgdOptions& o);
void adam_step(const std::vector<OptimTensor>& tensors, const AdamOptions& o);
void rmsprop_step(const std::vector<OptimTensor>& tensors, const RmspropOptions& o);
void adagrad_step(const std::vector<OptimTensor>& tensors, const AdagradOptions& o);

}  // namespace fastnn
