// Fused multi-tensor optimizer steps on the device (SGD, Adam/AdamW, RMSprop, Adagrad),
// with csrc/optim.h's update rules operation for operation (torch.optim's single-tensor
// formulas, scalars rounded to the parameter's dtype). One launch updates every parameter
// of the list: a table of the tensors and of fixed-size chunks of their elements goes to
// the device, and each block updates one chunk. Parameters and state are overwritten in
// place; gradients are only read; every pointer is a device pointer.
#pragma once

#include <vector>

#include "optim.h"  // OptimTensor and the option structs

namespace fastnn {
namespace cuda {

void sgd_step(const std::vector<OptimTensor>& tensors, const SgdOptions& o);
void adam_step(const std::vector<OptimTensor>& tensors, const AdamOptions& o);
void rmsprop_step(const std::vector<OptimTensor>& tensors, const RmspropOptions& o);
void adagrad_step(const std::vector<OptimTensor>& tensors, const AdagradOptions& o);

}  // namespace cuda
}  // namespace fastnn
