"""fastnn.utils.data: PyTorch's ``torch.utils.data`` API (datasets, samplers, DataLoader,
collate functions, random_split), plus scikit-learn's ``train_test_split``.

Example:
    >>> from fastnn.utils.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, num_workers=2)
"""

from ._split import train_test_split
from ._worker import WorkerInfo, get_worker_info
from .collate import StackedSamples, default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler",
           "SequentialSampler", "StackedSamples", "Subset", "SubsetRandomSampler", "TensorDataset", "WorkerInfo",
           "default_collate", "default_convert", "get_worker_info", "random_split", "train_test_split"]
