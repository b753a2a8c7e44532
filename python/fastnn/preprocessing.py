"""scikit-learn's feature scalers (``MinMaxScaler``, ``StandardScaler``) with their fitted
attributes, NaN handling (ignored when fitting, kept when transforming) and constant-feature
rule (scale 1), plus ``one_hot`` (torch.nn.functional.one_hot semantics) and
``train_test_split`` (from :mod:`fastnn.utils.data`). Scalers take and return NumPy arrays
(fastnn Tensors are accepted as input); float32/float16 stay as they are, other dtypes become
float64.
"""

import numpy as np

from .tensor import Tensor
from .utils.data import train_test_split

__all__ = ["MinMaxScaler", "NotFittedError", "StandardScaler", "one_hot", "train_test_split"]

_FLOAT_DTYPES = (np.float64, np.float32, np.float16)


class NotFittedError(ValueError, AttributeError):
    """Raised when a scaler is used before ``fit`` (scikit-learn's
    ``sklearn.exceptions.NotFittedError``: both a ValueError and an AttributeError)."""


def _handle_zeros_in_scale(scale, constant_mask=None):
    """Scales of (near-)constant features set to 1, so that they are left unscaled."""
    scale = np.array(scale, copy=True)
    if constant_mask is None:
        constant_mask = scale < 10 * np.finfo(scale.dtype).eps
    scale[constant_mask] = 1.0
    return scale


class _Scaler:
    """Input validation, fitted-state checks and get/set_params shared by the scalers."""

    _fitted_attribute = "n_samples_seen_"

    def _validate(self, X, reset, copy, check_features=True):
        name = type(self).__name__
        if isinstance(X, Tensor):
            X = X.data
        original = X
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"[{name}] expected numeric data, got dtype {X.dtype}")
        if X.ndim == 1 or X.ndim == 0:
            raise ValueError(f"Expected 2D array, got {X.ndim}D array instead:\narray={X}.\nReshape your data "
                             "either using array.reshape(-1, 1) if your data has a single feature or "
                             "array.reshape(1, -1) if it contains a single sample.")
        if X.ndim > 2:
            raise ValueError(f"Found array with dim {X.ndim}. {name} expected <= 2.")
        if X.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required by "
                             f"{name}.")
        if X.shape[1] < 1:
            raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required by "
                             f"{name}.")
        dtype = X.dtype if X.dtype.type in _FLOAT_DTYPES else np.float64
        if X.dtype != dtype or not X.flags.c_contiguous or not X.flags.writeable:
            X = np.array(X, dtype=dtype, order="C")
        elif copy and X is original:
            X = X.copy()
        if np.isinf(X).any():
            raise ValueError(f"Input X contains infinity or a value too large for dtype('{X.dtype}').")
        if check_features:
            if reset:
                self.n_features_in_ = X.shape[1]
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting {self.n_features_in_} "
                                 "features as input.")
        return X

    def _check_is_fitted(self):
        if not hasattr(self, self._fitted_attribute):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def _check_features(self, X):
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")

    def _reset(self):
        for attribute in self._fitted_attributes:
            self.__dict__.pop(attribute, None)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y, **fit_params)`` then ``transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def get_params(self, deep=True):
        """The constructor arguments as a dict."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params):
        """Set constructor arguments; unknown names are a ValueError."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. Valid parameters "
                                 f"are: {sorted(self._param_names)!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = type(self)().get_params()
        changed = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k])
        return f"{type(self).__name__}({changed})"


class MinMaxScaler(_Scaler):
    """Scale each feature to ``feature_range``:
    ``X_scaled = X * scale_ + min_`` with ``scale_ = (max - min) / (data_max_ - data_min_)``
    and ``min_ = min - data_min_ * scale_`` (a constant feature gets ``scale_ = 1``).

    Args:
        feature_range: ``(min, max)`` of the transformed data. Default: ``(0, 1)``.
        copy: transform a copy (False: in place when the input is a C-contiguous float
            array). Default: True.
        clip: clip transformed values to ``feature_range``. Default: False.

    Attributes:
        data_min_, data_max_, data_range_: per-feature minimum, maximum and their difference
            over all data seen (NaNs ignored).
        scale_, min_: the per-feature affine map above.
        n_samples_seen_: rows seen by fit / partial_fit.
        n_features_in_: number of features.

    Shape:
        X: ``(n_samples, n_features)``; output: the same.

    Example:
        >>> scaler = MinMaxScaler().fit([[-1, 2], [-0.5, 6], [0, 10], [1, 18]])
        >>> scaler.data_max_
        array([ 1., 18.])
        >>> scaler.transform([[2, 2]])
        array([[1.5, 0. ]])
    """

    _param_names = ("feature_range", "copy", "clip")
    _fitted_attributes = ("n_samples_seen_", "n_features_in_", "data_min_", "data_max_", "data_range_", "scale_",
                          "min_")

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def fit(self, X, y=None):
        """Compute the per-feature minimum and maximum (forgetting earlier fits)."""
        self._reset()
        return self.partial_fit(X, y)

    def partial_fit(self, X, y=None):
        """Update the per-feature minimum and maximum with the batch X."""
        low, high = self.feature_range
        if low >= high:
            raise ValueError(f"Minimum of desired feature range must be smaller than maximum. Got "
                             f"{tuple(self.feature_range)}.")
        first = not hasattr(self, "n_samples_seen_")
        X = self._validate(X, reset=first, copy=False)
        if np.isnan(X).all(axis=0).any():  # nanmin would warn and give NaN for that column
            data_min = np.where(np.isnan(X).all(axis=0), np.nan, np.nanmin(np.where(np.isnan(X), np.inf, X), axis=0))
            data_max = np.where(np.isnan(X).all(axis=0), np.nan, np.nanmax(np.where(np.isnan(X), -np.inf, X), axis=0))
        else:
            data_min, data_max = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        if first:
            self.n_samples_seen_ = X.shape[0]
        else:
            data_min = np.fmin(self.data_min_, data_min)
            data_max = np.fmax(self.data_max_, data_max)
            self.n_samples_seen_ += X.shape[0]
        data_range = data_max - data_min
        self.scale_ = (high - low) / _handle_zeros_in_scale(data_range)
        self.min_ = low - data_min * self.scale_
        self.data_min_, self.data_max_, self.data_range_ = data_min, data_max, data_range
        return self

    def transform(self, X):
        """Scale X to ``feature_range`` (NaNs stay NaN)."""
        self._check_is_fitted()
        X = self._validate(X, reset=False, copy=self.copy)
        X *= self.scale_
        X += self.min_
        if self.clip:
            np.clip(X, self.feature_range[0], self.feature_range[1], out=X)
        return X

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        self._check_is_fitted()
        X = self._validate(X, reset=False, copy=self.copy)
        X -= self.min_
        X /= self.scale_
        return X


class StandardScaler(_Scaler):
    """Standardise features: ``z = (x - mean_) / scale_`` with ``scale_ = sqrt(var_)``, the
    population (biased) standard deviation; a constant feature gets ``scale_ = 1``.

    Means and variances are merged across :meth:`partial_fit` calls with the pairwise
    update of Chan, Golub & LeVeque (1983), accumulated in float64, so partial fits over
    batches equal one fit over their concatenation. NaNs are ignored (per-feature counts).

    Args:
        copy: transform a copy (False: in place when possible). Default: True.
        with_mean: subtract the mean. Default: True.
        with_std: divide by the standard deviation. Default: True.

    Attributes:
        mean_: per-feature mean (None when ``with_mean`` and ``with_std`` are both False).
        var_: per-feature variance (None when ``with_std`` is False).
        scale_: per-feature scale (None when ``with_std`` is False).
        n_samples_seen_: samples seen: an int, or per-feature counts when NaNs made them
            differ (float with ``sample_weight``).
        n_features_in_: number of features.

    Shape:
        X: ``(n_samples, n_features)``; output: the same.

    Example:
        >>> scaler = StandardScaler().fit([[0, 0], [0, 0], [1, 1], [1, 1]])
        >>> scaler.mean_
        array([0.5, 0.5])
        >>> scaler.transform([[2, 2]])
        array([[3., 3.]])
    """

    _param_names = ("copy", "with_mean", "with_std")
    _fitted_attributes = ("n_samples_seen_", "n_features_in_", "mean_", "var_", "scale_")

    def __init__(self, *, copy=True, with_mean=True, with_std=True):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None, sample_weight=None):
        """Compute the per-feature mean and variance (forgetting earlier fits)."""
        self._reset()
        return self.partial_fit(X, y, sample_weight)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Merge the batch X (optionally weighted per sample) into the running statistics."""
        first = not hasattr(self, "n_samples_seen_")
        X = self._validate(X, reset=first, copy=False)
        n_features = X.shape[1]
        nan = np.isnan(X)
        if sample_weight is None:
            present = (~nan).astype(np.float64)
            count_dtype = np.int64
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 0:
                w = np.full(X.shape[0], float(w))
            if w.shape != (X.shape[0],):
                raise ValueError(f"sample_weight.shape == {w.shape}, expected {(X.shape[0],)}!")
            present = (~nan) * w[:, None]
            count_dtype = np.float64
        Xf = np.where(nan, 0.0, X.astype(np.float64))
        new_count = present.sum(axis=0)
        if first:
            last_count = np.zeros(n_features, count_dtype)
            last_mean = np.zeros(n_features)
            last_m2 = np.zeros(n_features)
        else:
            last_count = np.broadcast_to(np.asarray(self.n_samples_seen_), (n_features,)).astype(
                np.result_type(np.asarray(self.n_samples_seen_).dtype, count_dtype))
            last_mean = np.zeros(n_features) if self.mean_ is None else np.asarray(self.mean_, dtype=np.float64)
            last_m2 = np.zeros(n_features) if self.var_ is None else np.asarray(self.var_) * last_count
        total = last_count + new_count
        if self.with_mean or self.with_std:
            with np.errstate(divide="ignore", invalid="ignore"):
                new_mean = (present * Xf).sum(axis=0) / new_count
                centred = np.where(nan, 0.0, Xf - new_mean)
                # two-pass sum of squares with its rounding correction, then the pairwise merge
                correction = (present * centred).sum(axis=0)
                new_m2 = (present * centred ** 2).sum(axis=0) - correction ** 2 / new_count
                delta = new_mean - last_mean
                mean = last_mean + delta * new_count / total
                m2 = last_m2 + new_m2 + delta ** 2 * last_count * new_count / total
            only_old = new_count == 0
            mean[only_old], m2[only_old] = last_mean[only_old], last_m2[only_old]
            only_new = last_count == 0
            mean[only_new], m2[only_new] = new_mean[only_new], new_m2[only_new]
            self.mean_ = mean
            if self.with_std:
                with np.errstate(divide="ignore", invalid="ignore"):
                    self.var_ = m2 / total
            else:
                self.var_ = None
        else:
            self.mean_ = None
            self.var_ = None
        total = total.astype(count_dtype) if count_dtype is np.int64 else total
        self.n_samples_seen_ = total[0] if np.ptp(total) == 0 else total
        if self.with_std:
            constant = self._constant_features()
            self.scale_ = _handle_zeros_in_scale(np.sqrt(self.var_), constant_mask=constant)
        else:
            self.scale_ = None
        return self

    def _constant_features(self):
        """Features whose variance is within rounding error of 0 (scikit-learn's bound)."""
        eps = np.finfo(np.float64).eps
        n = np.asarray(self.n_samples_seen_, dtype=np.float64)
        return self.var_ <= n * eps * self.var_ + (n * self.mean_ * eps) ** 2

    def transform(self, X, copy=None):
        """Standardise X."""
        self._check_is_fitted()
        X = self._validate(X, reset=False, copy=self.copy if copy is None else copy)
        if self.with_mean:
            X -= self.mean_
        if self.with_std:
            X /= self.scale_
        return X

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`."""
        self._check_is_fitted()
        X = self._validate(X, reset=False, copy=self.copy if copy is None else copy)
        if self.with_std:
            X *= self.scale_
        if self.with_mean:
            X += self.mean_
        return X


def one_hot(labels, num_classes=-1):
    """One-hot encode integer class labels (``torch.nn.functional.one_hot``).

    Args:
        labels: integer array or fastnn Tensor of any shape, values in ``[0, num_classes)``.
        num_classes: number of classes; -1 infers ``labels.max() + 1``.

    Returns:
        int64 array of shape ``(*labels.shape, num_classes)``, a NumPy array for a NumPy input
        and a Tensor for a Tensor input.

    Example:
        >>> one_hot(np.array([0, 2, 1]))
        array([[1, 0, 0],
               [0, 0, 1],
               [0, 1, 0]])
    """
    is_tensor = isinstance(labels, Tensor)
    array = labels.data if is_tensor else np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(f"[one_hot] labels must be integers (class indices), got dtype {array.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"[one_hot] num_classes must be an int, got {type(num_classes).__name__}")
    if array.size and array.min() < 0:
        raise ValueError(f"[one_hot] Class values must be non-negative, got {array.min()}")
    if num_classes == -1:
        if array.size == 0:
            raise ValueError("[one_hot] Can not infer total number of classes from empty tensor.")
        num_classes = int(array.max()) + 1
    elif num_classes < 1 and not (num_classes == 0 and array.size == 0):
        raise ValueError(f"[one_hot] num_classes must be positive or -1, got {num_classes}")
    elif array.size and array.max() >= num_classes:
        raise ValueError(f"[one_hot] Class values must be smaller than num_classes ({num_classes}), got "
                         f"{array.max()}")
    out = np.zeros(array.shape + (int(num_classes),), dtype=np.int64)
    np.put_along_axis(out, array.astype(np.intp)[..., None], 1, axis=-1)
    return Tensor(out) if is_tensor else out
