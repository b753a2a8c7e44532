"""``fastnn.nn.utils``: training utilities, under PyTorch's names."""

from ...optim._clip import clip_grad_norm_

__all__ = ["clip_grad_norm_"]
