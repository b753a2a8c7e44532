"""fastnn.preprocessing: MinMaxScaler and StandardScaler against their formulas in float64
NumPy (fit, transform, inverse round trip, constant features, NaNs, partial_fit equal to
one fit, errors), and one_hot on NumPy arrays and Tensors."""

import numpy as np
import pytest

import fastnn
from fastnn.preprocessing import MinMaxScaler, NotFittedError, StandardScaler, one_hot, train_test_split


@pytest.fixture
def X(rng):
    x = rng.standard_normal((37, 6)) * rng.uniform(0.1, 50, 6) + rng.uniform(-20, 20, 6)
    x[:, 2] = 4.25  # a constant feature
    return x


# ---- MinMaxScaler ----

@pytest.mark.parametrize("feature_range", [(0, 1), (-3, 2)])
def test_minmax_formula(X, feature_range):
    low, high = feature_range
    scaler = MinMaxScaler(feature_range)
    out = scaler.fit_transform(X)
    dmin, dmax = X.min(axis=0), X.max(axis=0)
    drange = dmax - dmin
    safe = np.where(drange == 0, 1.0, drange)
    expected = (X - dmin) / safe * (high - low) + low
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(scaler.data_min_, dmin)
    np.testing.assert_array_equal(scaler.data_max_, dmax)
    np.testing.assert_array_equal(scaler.data_range_, drange)
    np.testing.assert_allclose(scaler.scale_, (high - low) / safe, rtol=1e-14)
    np.testing.assert_allclose(scaler.min_, low - dmin * (high - low) / safe, rtol=1e-13, atol=1e-14)
    assert scaler.n_samples_seen_ == len(X) and scaler.n_features_in_ == 6
    assert np.all(out[:, 2] == low)  # constant feature: scale 1, mapped to the low end
    np.testing.assert_allclose(scaler.inverse_transform(out), X, rtol=1e-12, atol=1e-12)


def test_minmax_clip_copy_and_dtype(X):
    scaler = MinMaxScaler(clip=True).fit(X)
    outside = scaler.transform(X * 3)
    assert outside.min() >= 0 and outside.max() <= 1
    x32 = X.astype(np.float32)
    assert MinMaxScaler().fit_transform(x32).dtype == np.float32
    assert MinMaxScaler().fit_transform(X.astype(np.int64)).dtype == np.float64
    keep = X.copy()
    MinMaxScaler().fit(X).transform(X)
    np.testing.assert_array_equal(X, keep)  # copy=True leaves the input alone
    inplace = X.copy()
    out = MinMaxScaler(copy=False).fit(inplace).transform(inplace)
    assert out is inplace


def test_minmax_partial_fit_equals_fit(X):
    whole = MinMaxScaler().fit(X)
    parts = MinMaxScaler()
    for chunk in np.array_split(X, 4):
        parts.partial_fit(chunk)
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name))
    assert parts.n_samples_seen_ == whole.n_samples_seen_ == len(X)


def test_minmax_nan_is_ignored_then_kept(X):
    X = X.copy()
    X[3, 0] = np.nan
    scaler = MinMaxScaler().fit(X)
    assert scaler.data_min_[0] == np.nanmin(X[:, 0])
    out = scaler.transform(X)
    assert np.isnan(out[3, 0]) and np.isnan(out).sum() == 1


# ---- StandardScaler ----

def test_standard_formula(X):
    scaler = StandardScaler()
    out = scaler.fit_transform(X)
    mean, var = X.mean(axis=0), X.var(axis=0)
    scale = np.where(np.isclose(var, 0, atol=1e-20), 1.0, np.sqrt(var))
    np.testing.assert_allclose(scaler.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(scaler.var_, var, rtol=1e-12, atol=1e-25)
    np.testing.assert_allclose(scaler.scale_, scale, rtol=1e-12)
    assert scaler.scale_[2] == 1.0 and scaler.n_samples_seen_ == len(X)
    np.testing.assert_allclose(out, (X - mean) / scale, rtol=1e-11, atol=1e-11)
    assert np.all(out[:, 2] == 0)
    np.testing.assert_allclose(scaler.inverse_transform(out), X, rtol=1e-12, atol=1e-12)


def test_standard_constant_feature_with_rounding_noise():
    x = np.full((100, 1), 0.1)  # mean of 0.1s is not exactly 0.1: var is tiny, not 0
    scaler = StandardScaler().fit(x)
    assert scaler.scale_[0] == 1.0


def test_standard_partial_fit_equals_fit_on_concatenation(rng):
    chunks = [rng.standard_normal((n, 4)) * 3 + 100 for n in (1, 17, 5, 40)]
    whole = StandardScaler().fit(np.concatenate(chunks))
    parts = StandardScaler()
    for c in chunks:
        parts.partial_fit(c)
    np.testing.assert_allclose(parts.mean_, whole.mean_, rtol=1e-13)
    np.testing.assert_allclose(parts.var_, whole.var_, rtol=1e-11)
    assert parts.n_samples_seen_ == whole.n_samples_seen_ == 63


def test_standard_options_and_float32(X):
    no_mean = StandardScaler(with_mean=False).fit(X)
    np.testing.assert_allclose(no_mean.transform(X), X / no_mean.scale_, rtol=1e-13)
    no_std = StandardScaler(with_std=False).fit(X)
    assert no_std.var_ is None and no_std.scale_ is None
    np.testing.assert_allclose(no_std.transform(X), X - X.mean(axis=0), rtol=1e-12, atol=1e-12)
    neither = StandardScaler(with_mean=False, with_std=False).fit(X)
    assert neither.mean_ is None and neither.var_ is None and neither.n_samples_seen_ == len(X)
    x32 = X.astype(np.float32)
    s32 = StandardScaler().fit(x32)
    assert s32.mean_.dtype == np.float64 and s32.transform(x32).dtype == np.float32
    np.testing.assert_allclose(s32.mean_, x32.astype(np.float64).mean(axis=0), rtol=1e-12)


def test_standard_nan_counts_per_feature(X):
    X = X.copy()
    X[:5, 1] = np.nan
    scaler = StandardScaler().fit(X)
    assert scaler.n_samples_seen_.tolist() == [37, 32, 37, 37, 37, 37]
    np.testing.assert_allclose(scaler.mean_[1], np.nanmean(X[:, 1]), rtol=1e-13)
    np.testing.assert_allclose(scaler.var_[1], np.nanvar(X[:, 1]), rtol=1e-12)


def test_standard_sample_weight_equals_repetition(rng):
    x = rng.standard_normal((6, 3))
    w = np.array([1, 2, 1, 3, 1, 1])
    weighted = StandardScaler().fit(x, sample_weight=w)
    repeated = StandardScaler().fit(np.repeat(x, w, axis=0))
    np.testing.assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-13)
    np.testing.assert_allclose(weighted.var_, repeated.var_, rtol=1e-12)
    assert weighted.n_samples_seen_ == 9


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_scaler_errors(cls, X):
    with pytest.raises(NotFittedError, match=f"This {cls.__name__} instance is not fitted yet"):
        cls().transform(X)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    scaler = cls().fit(X)
    with pytest.raises(ValueError, match=f"X has 5 features, but {cls.__name__} is expecting 6 features"):
        scaler.transform(X[:, :5])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        cls().fit(X[:, 0])
    with pytest.raises(ValueError, match="Found array with 0 sample"):
        cls().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="contains infinity"):
        cls().fit(np.array([[1.0], [np.inf]]))
    assert scaler.get_params() == cls().get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        scaler.set_params(nope=1)


def test_minmax_bad_range(X):
    with pytest.raises(ValueError, match="Minimum of desired feature range must be smaller than maximum"):
        MinMaxScaler(feature_range=(1, 1)).fit(X)


def test_scalers_accept_tensors(X):
    out = StandardScaler().fit_transform(fastnn.tensor(X.astype(np.float32)))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


# ---- one_hot ----

def test_one_hot_numpy_and_tensor():
    labels = np.array([[0, 3], [2, 1]])
    out = one_hot(labels)
    expected = (labels[..., None] == np.arange(4)).astype(np.int64)
    assert out.dtype == np.int64 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out, expected)
    wide = one_hot(np.array([1]), num_classes=5)
    assert wide.tolist() == [[0, 1, 0, 0, 0]]
    t = one_hot(fastnn.tensor([2, 0]), 3)
    assert isinstance(t, fastnn.Tensor) and t.dtype == np.int64 and t.numpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert one_hot(np.zeros(0, np.int64), 3).shape == (0, 3)


def test_one_hot_errors():
    with pytest.raises(ValueError, match="non-negative"):
        one_hot(np.array([0, -1]))
    with pytest.raises(ValueError, match="smaller than num_classes"):
        one_hot(np.array([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match="Can not infer total number of classes from empty tensor"):
        one_hot(np.zeros(0, np.int64))
    with pytest.raises(TypeError, match=r"\[one_hot\].*float"):
        one_hot(np.array([0.0, 1.0]))


def test_train_test_split_is_importable_from_preprocessing():
    a, b = train_test_split(np.arange(8), test_size=2, random_state=0)
    assert len(a) == 6 and len(b) == 2
