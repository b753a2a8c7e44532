"""Utilities in PyTorch's ``torch.utils`` layout: :mod:`fastnn.utils.data` holds the
datasets, samplers and the DataLoader."""

from . import data

__all__ = ["data"]
