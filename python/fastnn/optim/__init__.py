"""fastnn.optim: PyTorch's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), each step one
fused in-place kernel call per param group, and learning-rate schedulers
(:mod:`fastnn.optim.lr_scheduler`)."""

from . import lr_scheduler
from ._clip import clip_grad_norm_
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "clip_grad_norm_", "lr_scheduler"]
