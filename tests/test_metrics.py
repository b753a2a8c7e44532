"""Tests of fastnn.metrics (scikit-learn's metric functions, Keras's per-sample accuracies) and
fastnn.keras.metrics (Keras's metric classes and get). Every result is checked against a
NumPy formula written here independently: per-label loops over boolean masks.
"""

import warnings

import numpy as np
import pytest

import fastnn
from fastnn import metrics as M
from fastnn.keras import metrics as K

AVERAGES = ["micro", "macro", "weighted", None]


# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------

def ref_counts(yt, yp, labels, w):
    """Weighted tp, predicted and true counts per label, one mask at a time."""
    tp = np.array([w[(yt == c) & (yp == c)].sum() for c in labels], dtype=float)
    pred = np.array([w[yp == c].sum() for c in labels], dtype=float)
    true = np.array([w[yt == c].sum() for c in labels], dtype=float)
    return tp, pred, true


def safe_div(a, b, zd):
    return np.array([x / y if y != 0 else zd for x, y in zip(np.atleast_1d(a), np.atleast_1d(b))])


def ref_prf(tp, pred, true, average, zd=0.0):
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    p, r, f = safe_div(tp, pred, zd), safe_div(tp, true, zd), safe_div(2 * tp, pred + true, zd)
    if average is None:
        return p, r, f
    if average == "weighted":
        return tuple(float((v * true).sum() / true.sum()) for v in (p, r, f))
    return tuple(float(v.mean()) for v in (p, r, f))


def weights_or_ones(sw, n):
    return np.ones(n) if sw is None else sw


# ---------------------------------------------------------------------------------------------
# accuracy_score
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_score_multiclass(rng, weighted):
    yt, yp = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    sw = rng.random(200) if weighted else None
    w = weights_or_ones(sw, 200)
    correct = np.array([a == b for a, b in zip(yt, yp)], dtype=float)
    assert M.accuracy_score(yt, yp, sample_weight=sw) == pytest.approx((correct * w).sum() / w.sum())
    assert M.accuracy_score(yt, yp, normalize=False, sample_weight=sw) == pytest.approx((correct * w).sum())
    assert isinstance(M.accuracy_score(yt, yp), float)


def test_accuracy_score_multilabel_is_subset_accuracy(rng):
    yt, yp = rng.integers(0, 2, (100, 3)), rng.integers(0, 2, (100, 3))
    yp[:30] = yt[:30]
    exact = [all(a == b) for a, b in zip(yt, yp)]
    assert M.accuracy_score(yt, yp) == pytest.approx(np.mean(exact))


def test_accuracy_score_strings_and_tensors(rng):
    assert M.accuracy_score(["a", "b", "c", "a"], ["a", "c", "c", "b"]) == 0.5
    yt, yp = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    t = fastnn.Tensor(yp.astype(np.float32))
    assert M.accuracy_score(yt, t) == pytest.approx(np.mean(yt == yp))


# ---------------------------------------------------------------------------------------------
# precision / recall / f1
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_label", [1, 0])
def test_binary_scores(rng, weighted, pos_label):
    yt, yp = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    sw = rng.random(300) if weighted else None
    tp, pred, true = ref_counts(yt, yp, [pos_label], weights_or_ones(sw, 300))
    p, r, f = ref_prf(tp, pred, true, "macro")
    kw = dict(pos_label=pos_label, sample_weight=sw)
    assert M.precision_score(yt, yp, **kw) == pytest.approx(p)
    assert M.recall_score(yt, yp, **kw) == pytest.approx(r)
    assert M.f1_score(yt, yp, **kw) == pytest.approx(f)
    assert M.fbeta_score(yt, yp, beta=1.0, **kw) == pytest.approx(f)
    beta = 2.0
    fb = (1 + beta**2) * p * r / (beta**2 * p + r)
    assert M.fbeta_score(yt, yp, beta=beta, **kw) == pytest.approx(fb)


def test_binary_string_labels():
    yt = np.array(["spam", "ham", "spam", "spam", "ham"])
    yp = np.array(["spam", "spam", "ham", "spam", "ham"])
    assert M.precision_score(yt, yp, pos_label="spam") == pytest.approx(2 / 3)
    assert M.recall_score(yt, yp, pos_label="ham") == pytest.approx(1 / 2)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_scores(rng, average, weighted):
    yt, yp = rng.integers(0, 5, 400), rng.integers(0, 5, 400)
    sw = rng.random(400) if weighted else None
    ref = ref_prf(*ref_counts(yt, yp, range(5), weights_or_ones(sw, 400)), average)
    got = [fn(yt, yp, average=average, sample_weight=sw) for fn in (M.precision_score, M.recall_score, M.f1_score)]
    for g, e in zip(got, ref):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    p, r, f, support = M.precision_recall_fscore_support(yt, yp, average=average, sample_weight=sw)
    np.testing.assert_allclose([p, r, f], ref, rtol=1e-12)
    if average is None:
        np.testing.assert_allclose(support, [weights_or_ones(sw, 400)[yt == c].sum() for c in range(5)])
    else:
        assert support is None and isinstance(p, float)


@pytest.mark.parametrize("average", AVERAGES)
def test_labels_argument_selects_and_orders(rng, average):
    yt, yp = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    labels = [3, 1, 7]  # 7 never occurs: its scores are ill-defined, set to zero_division
    ref = ref_prf(*ref_counts(yt, yp, labels, np.ones(300)), average, zd=0.0)
    for fn, e in zip((M.precision_score, M.recall_score, M.f1_score), ref):
        np.testing.assert_allclose(fn(yt, yp, labels=labels, average=average, zero_division=0.0), e)


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples", None])
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_scores(rng, average, weighted):
    yt, yp = rng.integers(0, 2, (120, 4)), rng.integers(0, 2, (120, 4))
    yt[:, 0] = yp[:, 0] = 1  # no sample without any label: 'samples' stays well defined
    sw = rng.random(120) if weighted else None
    w = weights_or_ones(sw, 120)
    if average == "samples":
        tp = (yt & yp).sum(1).astype(float)
        ps, rs, fs = tp / yp.sum(1), tp / yt.sum(1), 2 * tp / (yt.sum(1) + yp.sum(1))
        ref = [float((v * w).sum() / w.sum()) for v in (ps, rs, fs)]
    else:
        tp = np.array([w[(yt[:, j] == 1) & (yp[:, j] == 1)].sum() for j in range(4)])
        pred = np.array([w[yp[:, j] == 1].sum() for j in range(4)])
        true = np.array([w[yt[:, j] == 1].sum() for j in range(4)])
        ref = ref_prf(tp, pred, true, average)
    for fn, e in zip((M.precision_score, M.recall_score, M.f1_score), ref):
        np.testing.assert_allclose(fn(yt, yp, average=average, sample_weight=sw), e, rtol=1e-12)
    # labels picks columns
    np.testing.assert_allclose(M.recall_score(yt, yp, labels=[2, 0], average=None),
                               [((yt[:, j] & yp[:, j]).sum() / yt[:, j].sum()) for j in (2, 0)])


def test_zero_division_warn_returns_zero_with_warning():
    yt, yp = [0, 0, 1, 1], [0, 0, 0, 0]
    with pytest.warns(M.UndefinedMetricWarning, match="Precision is ill-defined.*due to no predicted samples"):
        assert M.precision_score(yt, yp) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.recall_score(yt, yp) == 0.0  # tp=0 over 2 true samples: well defined
        assert M.f1_score(yt, yp) == 0.0  # 2 true + 0 predicted: well defined, no warning
    assert issubclass(M.UndefinedMetricWarning, UserWarning)
    with pytest.warns(M.UndefinedMetricWarning, match="F-score is ill-defined.*no true nor predicted samples"):
        assert M.f1_score([0, 0], [0, 0]) == 0.0
    with pytest.warns(M.UndefinedMetricWarning, match="Recall is ill-defined.*in labels with no true samples"):
        np.testing.assert_array_equal(M.recall_score([0, 0], [0, 1], labels=[0, 1], average=None), [0.5, 0.0])


def test_zero_division_values():
    yt, yp = [0, 0, 1, 1], [0, 0, 0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.precision_score(yt, yp, zero_division=1.0) == 1.0
        assert M.precision_score(yt, yp, zero_division=0) == 0.0
        assert np.isnan(M.precision_score(yt, yp, zero_division=np.nan))
        # NaN scores are left out of the average: label 1 is ill-defined, label 0 has 2/4
        assert M.precision_score(yt, yp, average="macro", zero_division=np.nan) == pytest.approx(0.5)
        assert M.precision_score(yt, yp, average="macro", zero_division=1.0) == pytest.approx(0.75)


def test_pos_label_ignored_warning():
    with pytest.warns(UserWarning, match="pos_label"):
        assert M.precision_score([0, 1, 2], [0, 1, 2], average="macro", pos_label=2) == 1.0


def test_binary_average_without_positive_label_present():
    # only the negative class appears: pos_label=1 is absent but allowed
    assert M.recall_score([0, 0, 0], [0, 0, 0], zero_division=1.0) == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: M.precision_score([0, 1, 2], [0, 1, 1]), r"\[precision_score\] Target is multiclass but average='binary'"),
    (lambda: M.recall_score([0, 1], [0, 1], average="mean"), r"\[recall_score\] average has to be one of"),
    (lambda: M.f1_score([0, 1, 1], [0, 1]), r"\[f1_score\] .*inconsistent numbers of samples: \[3, 2\]"),
    (lambda: M.f1_score([0, 2], [0, 2], pos_label=1), r"pos_label=1 is not a valid label.*\[0, 2\]"),
    (lambda: M.precision_score([0, 1], [0, 1], zero_division="nope"), r"zero_division must be"),
    (lambda: M.accuracy_score([0.5, 1.0], [0, 1]), r"\[accuracy_score\] .*mix of continuous and binary"),
    (lambda: M.accuracy_score([0.5, 1.5], [0.5, 1.5]), r"continuous is not supported"),
    (lambda: M.accuracy_score([[0, 1], [1, 0]], [0, 1]), r"mix of multilabel-indicator and binary"),
    (lambda: M.f1_score([0, 1], [0, 1], average="samples"), r"not meaningful outside multilabel"),
    (lambda: M.recall_score([[0, 1], [1, 1]], [[0, 1], [1, 0]], labels=[2], average=None),
     r"All labels must be in \[0, n labels\)"),
    (lambda: M.accuracy_score([0, 1], [0, 1], sample_weight=[1, 2, 3]), r"sample_weight.shape == \(3,\)"),
    (lambda: M.accuracy_score([], []), r"0 sample"),
    (lambda: M.fbeta_score([0, 1], [0, 1], beta=0), r"beta should be >0"),
])
def test_classification_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mixed_label_types_raise_type_error():
    with pytest.raises(TypeError, match=r"\[accuracy_score\] Labels in y_true and y_pred should be of the same type"):
        M.accuracy_score(["a", "b"], [0, 1])


# ---------------------------------------------------------------------------------------------
# confusion_matrix
# ---------------------------------------------------------------------------------------------

def ref_confusion(yt, yp, labels, w):
    cm = np.zeros((len(labels), len(labels)))
    for t, p, wi in zip(yt, yp, w):
        if t in labels and p in labels:
            cm[labels.index(t), labels.index(p)] += wi
    return cm


def test_confusion_matrix_counts(rng):
    yt, yp = rng.integers(0, 4, 300), rng.integers(0, 5, 300)
    cm = M.confusion_matrix(yt, yp)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, ref_confusion(yt, yp, [0, 1, 2, 3, 4], np.ones(300)))
    labels = [4, 0, 2]  # order kept; samples with other labels dropped
    np.testing.assert_array_equal(M.confusion_matrix(yt, yp, labels=labels),
                                  ref_confusion(yt, yp, labels, np.ones(300)))


def test_confusion_matrix_weights_and_dtype(rng):
    yt, yp = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
    sw = rng.random(100)
    cm = M.confusion_matrix(yt, yp, sample_weight=sw)
    assert cm.dtype == np.float64
    np.testing.assert_allclose(cm, ref_confusion(yt, yp, [0, 1, 2], sw))
    iw = rng.integers(0, 4, 100)
    cm = M.confusion_matrix(yt, yp, sample_weight=iw)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, ref_confusion(yt, yp, [0, 1, 2], iw))


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_confusion_matrix_normalize(rng, normalize):
    yt, yp = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    yp[yp == 2] = 1  # column 2 empty: its normalised entries stay 0, not NaN
    raw = ref_confusion(yt, yp, [0, 1, 2], np.ones(60))
    if normalize == "true":
        expected = raw / raw.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        with np.errstate(invalid="ignore"):
            expected = np.nan_to_num(raw / raw.sum(axis=0, keepdims=True))
    else:
        expected = raw / raw.sum()
    np.testing.assert_allclose(M.confusion_matrix(yt, yp, normalize=normalize), expected)


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match=r"\[confusion_matrix\] normalize must be one of"):
        M.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        M.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ValueError, match="at least one label"):
        M.confusion_matrix([0, 1], [0, 1], labels=[])
    with pytest.raises(ValueError, match="multilabel-indicator is not supported"):
        M.confusion_matrix([[0, 1], [1, 0]], [[0, 1], [1, 1]])


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("outputs", [None, 3])
def test_regression_errors(rng, weighted, outputs):
    shape = (50,) if outputs is None else (50, outputs)
    yt, yp = rng.normal(size=shape), rng.normal(size=shape)
    sw = rng.random(50) if weighted else None
    w = weights_or_ones(sw, 50)
    d = (yp - yt).reshape(50, -1)
    mae = np.array([sum(w[i] * abs(d[i, j]) for i in range(50)) / w.sum() for j in range(d.shape[1])])
    mse = np.array([sum(w[i] * d[i, j] ** 2 for i in range(50)) / w.sum() for j in range(d.shape[1])])
    for fn, per_output in ((M.mean_absolute_error, mae), (M.mean_squared_error, mse),
                           (M.root_mean_squared_error, np.sqrt(mse))):
        assert fn(yt, yp, sample_weight=sw) == pytest.approx(per_output.mean(), rel=1e-12)
        np.testing.assert_allclose(fn(yt, yp, sample_weight=sw, multioutput="raw_values"), per_output, rtol=1e-12)
        if outputs:
            ow = rng.random(outputs)
            assert fn(yt, yp, sample_weight=sw, multioutput=ow) == pytest.approx((per_output * ow).sum() / ow.sum())


def test_regression_bad_input():
    with pytest.raises(ValueError, match=r"\[mean_squared_error\] .*inconsistent numbers of samples: \[3, 2\]"):
        M.mean_squared_error([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"different number of output \(2!=3\)"):
        M.mean_absolute_error(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="multioutput"):
        M.root_mean_squared_error([1, 2], [1, 2], multioutput="mean")
    with pytest.raises(ValueError, match=r"equally many custom weights \(3\) as outputs \(2\)"):
        M.mean_squared_error(np.zeros((4, 2)), np.zeros((4, 2)), multioutput=[1, 2, 3])


# ---------------------------------------------------------------------------------------------
# Keras's per-sample functions
# ---------------------------------------------------------------------------------------------

def test_binary_accuracy_function(rng):
    yt = rng.integers(0, 2, 40)
    yp = rng.random((40, 1))
    ref = np.array([float(t == (p[0] > 0.3)) for t, p in zip(yt, yp)])
    out = M.binary_accuracy(yt, yp, threshold=0.3)  # (N,) labels with (N, 1) scores -> (N,)
    assert out.shape == (40,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)
    # multilabel rows: the mean over the last axis
    yt2, yp2 = rng.integers(0, 2, (40, 3)), rng.random((40, 3))
    np.testing.assert_allclose(M.binary_accuracy(yt2, yp2), [np.mean(t == (p > 0.5)) for t, p in zip(yt2, yp2)])


def test_categorical_accuracies(rng):
    y = rng.integers(0, 6, 50)
    onehot = np.eye(6)[y]
    logits = rng.normal(size=(50, 6))
    ref = np.array([float(a == np.argmax(row)) for a, row in zip(y, logits)])
    np.testing.assert_array_equal(M.categorical_accuracy(onehot, logits), ref)
    np.testing.assert_array_equal(M.sparse_categorical_accuracy(y, logits), ref)
    out = M.sparse_categorical_accuracy(y[:, None], logits)
    assert out.shape == (50,)
    np.testing.assert_array_equal(out, ref)


def test_top_k_accuracies_count_ties_as_in(rng):
    y = rng.integers(0, 6, 80)
    scores = rng.integers(0, 4, (80, 6)).astype(float)  # many ties
    for k in (1, 2, 3, 6):
        ref = np.array([float(sum(s > s[t]) < k) for t, s in zip(y, scores)])
        np.testing.assert_array_equal(M.sparse_top_k_categorical_accuracy(y, scores, k=k), ref)
        np.testing.assert_array_equal(M.top_k_categorical_accuracy(np.eye(6)[y], scores, k=k), ref)


def test_keras_functions_bad_shapes():
    with pytest.raises(ValueError, match=r"\[binary_accuracy\] y_true shape \(3,\) and y_pred shape \(4,\)"):
        M.binary_accuracy([0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"\[sparse_categorical_accuracy\]"):
        M.sparse_categorical_accuracy([0, 1, 1], np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        M.sparse_top_k_categorical_accuracy([0, 5], np.zeros((2, 3)), k=1)


# ---------------------------------------------------------------------------------------------
# Keras metric classes: accumulation over batches equals the formula over all the data
# ---------------------------------------------------------------------------------------------

def batches(n, sizes):
    edges = np.cumsum([0] + sizes)
    assert edges[-1] == n
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


SIZES = [7, 32, 1, 60]


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_classes_accumulate(rng, weighted):
    n = sum(SIZES)
    y = rng.integers(0, 5, n)
    logits = rng.normal(size=(n, 5))
    probs1 = rng.random((n, 1))
    ybin = rng.integers(0, 2, n)
    sw = rng.random(n) if weighted else None
    w = weights_or_ones(sw, n)
    hit_cat = np.array([a == np.argmax(r) for a, r in zip(y, logits)], dtype=float)
    hit_bin = np.array([a == (p[0] > 0.5) for a, p in zip(ybin, probs1)], dtype=float)
    hit_top2 = np.array([sum(r > r[a]) < 2 for a, r in zip(y, logits)], dtype=float)
    cases = [
        (K.CategoricalAccuracy(), lambda s: (np.eye(5)[y[s]], logits[s]), hit_cat),
        (K.SparseCategoricalAccuracy(), lambda s: (y[s], logits[s]), hit_cat),
        (K.BinaryAccuracy(), lambda s: (ybin[s], probs1[s]), hit_bin),
        (K.Accuracy(), lambda s: (y[s], np.argmax(logits[s], axis=1)), hit_cat),
        (K.TopKCategoricalAccuracy(k=2), lambda s: (np.eye(5)[y[s]], logits[s]), hit_top2),
        (K.SparseTopKCategoricalAccuracy(k=2), lambda s: (y[s], logits[s]), hit_top2),
    ]
    for metric, data, hits in cases:
        for s in batches(n, SIZES):
            metric.update_state(*data(s), sample_weight=None if sw is None else sw[s])
        expected = (hits * w).sum() / w.sum()
        assert metric.result() == pytest.approx(expected, rel=1e-12), metric.name
        assert isinstance(metric.result(), float)
        metric.reset_state()
        assert metric.result() == 0.0


def test_mean_and_sum(rng):
    values = rng.normal(size=(20, 3))
    sw = rng.random(20)
    m, s = K.Mean(), K.Sum()
    for sl in batches(20, [5, 15]):
        m.update_state(values[sl], sample_weight=sw[sl])
        s.update_state(values[sl], sample_weight=sw[sl])
    row_means = values.mean(axis=1)
    assert m.result() == pytest.approx((row_means * sw).sum() / sw.sum())
    assert s.result() == pytest.approx((values.sum(axis=1) * sw).sum())
    m.reset_state()
    assert m(np.array([1.0, 3.0, 5.0, 7.0])) == 4.0  # __call__ updates and returns result()
    assert m(np.array([10.0])) == pytest.approx(26 / 5)
    assert m.name == "mean" and s.name == "sum" and m.dtype == "float32"


def test_mean_metric_wrapper_custom_function(rng):
    def squared_error(y_true, y_pred):
        return (np.asarray(y_true) - np.asarray(y_pred)) ** 2

    m = K.MeanMetricWrapper(squared_error, name="se", dtype="float64")
    yt, yp = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    m.update_state(yt[:4], yp[:4])
    m.update_state(yt[4:], yp[4:])
    assert m.result() == pytest.approx(((yt - yp) ** 2).mean())
    assert K.MeanMetricWrapper(squared_error).name == "mean_metric_wrapper"


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_classes_accumulate(rng, weighted):
    n = sum(SIZES)
    yt, yp = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    sw = rng.random(n) if weighted else None
    w = weights_or_ones(sw, n)
    se = np.array([np.mean((a - b) ** 2) for a, b in zip(yt, yp)])
    ae = np.array([np.mean(np.abs(a - b)) for a, b in zip(yt, yp)])
    for metric, expected in ((K.MeanSquaredError(), (se * w).sum() / w.sum()),
                             (K.MeanAbsoluteError(), (ae * w).sum() / w.sum()),
                             (K.RootMeanSquaredError(), np.sqrt((se * w).sum() / w.sum()))):
        for s in batches(n, SIZES):
            metric.update_state(yt[s], yp[s], sample_weight=None if sw is None else sw[s])
        assert metric.result() == pytest.approx(expected, rel=1e-6), metric.name
    # Keras's per-sample forms, and its aliases
    np.testing.assert_allclose(K.mse(yt, yp), se, rtol=1e-6)
    np.testing.assert_allclose(K.mae(yt, yp), ae, rtol=1e-6)
    assert K.mean_squared_error is K.mse and K.MAE is K.mean_absolute_error


def ref_confusion_counts(yt, yp, thresholds, w):
    """(tp, fp, fn) per threshold over every element, weights broadcast to the elements."""
    out = []
    for t in thresholds:
        pos = yp > t
        out.append(((w * (pos & (yt != 0))).sum(), (w * (pos & (yt == 0))).sum(), (w * (~pos & (yt != 0))).sum()))
    return np.array(out).T


@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_accumulate(rng, weighted):
    n = sum(SIZES)
    yt, yp = rng.integers(0, 2, (n, 4)), rng.random((n, 4))
    sw = rng.random(n) if weighted else None
    wfull = np.ones((n, 4)) if sw is None else np.repeat(sw[:, None], 4, axis=1)
    thresholds = [0.2, 0.5, 0.9]
    tp, fp, fn = ref_confusion_counts(yt, yp, thresholds, wfull)
    p, r = K.Precision(thresholds=thresholds), K.Recall(thresholds=thresholds)
    p1, r1 = K.Precision(), K.Recall()
    pc, rc = K.Precision(class_id=2), K.Recall(class_id=2)
    for s in batches(n, SIZES):
        for m in (p, r, p1, r1, pc, rc):
            m.update_state(yt[s], yp[s], sample_weight=None if sw is None else sw[s])
    np.testing.assert_allclose(p.result(), tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(r.result(), tp / (tp + fn), rtol=1e-6)
    assert p.result().shape == (3,) and p.result().dtype == np.float32
    assert p1.result() == pytest.approx(tp[1] / (tp[1] + fp[1]))
    assert r1.result() == pytest.approx(tp[1] / (tp[1] + fn[1]))
    tpc, fpc, fnc = ref_confusion_counts(yt[:, 2], yp[:, 2], [0.5], wfull[:, 2])
    assert pc.result() == pytest.approx(tpc[0] / (tpc[0] + fpc[0]))
    assert rc.result() == pytest.approx(tpc[0] / (tpc[0] + fnc[0]))


def test_precision_recall_top_k(rng):
    yt, yp = rng.integers(0, 2, (30, 5)), rng.random((30, 5))
    keep = np.zeros_like(yp, dtype=bool)
    for i, row in enumerate(yp):
        keep[i, np.argsort(-row)[:2]] = True
    tp = (keep & (yt == 1)).sum()
    p, r = K.Precision(top_k=2), K.Recall(top_k=2)
    assert p(yt, yp) == pytest.approx(tp / keep.sum())
    assert r(yt, yp) == pytest.approx(tp / (yt == 1).sum())


def test_precision_recall_empty_is_zero_and_binary_column():
    assert K.Precision().result() == 0.0 and K.Recall().result() == 0.0
    m = K.Precision()
    m.update_state([0, 1, 1, 1], [[1.0], [0.0], [1.0], [1.0]])  # (N,) labels, (N, 1) scores
    assert m.result() == pytest.approx(2 / 3)


def ref_fbeta(yt, pred, w, beta, average):
    eps = 1e-7
    tp = (w[:, None] * pred * yt).sum(0)
    fp = (w[:, None] * pred * (1 - yt)).sum(0)
    fn = (w[:, None] * (1 - pred) * yt).sum(0)
    support = (w[:, None] * yt).sum(0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    p, r = tp / (tp + fp + eps), tp / (tp + fn + eps)
    f = (1 + beta**2) * p * r / (beta**2 * p + r + eps)
    if average == "weighted":
        return (f * support / (support.sum() + eps)).sum()
    return f.mean() if average in ("macro", "micro") else f


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("threshold", [None, 0.4])
@pytest.mark.parametrize("weighted", [False, True])
def test_f1_score_accumulates(rng, average, threshold, weighted):
    n = sum(SIZES)
    y = rng.integers(0, 4, n)
    yt = np.eye(4)[y]
    yp = rng.random((n, 4))
    yp[0] = 0.0  # an all-zero row predicts nothing with threshold=None
    sw = rng.random(n) if weighted else None
    if threshold is None:
        pred = np.array([(row == row.max()) & (row != 0) for row in yp], dtype=float)
    else:
        pred = (yp > threshold).astype(float)
    expected = ref_fbeta(yt, pred, weights_or_ones(sw, n), 1.0, average)
    m = K.F1Score(average=average, threshold=threshold)
    fb = K.FBetaScore(average=average, beta=2.0, threshold=threshold)
    for s in batches(n, SIZES):
        m.update_state(yt[s], yp[s], sample_weight=None if sw is None else sw[s])
        fb.update_state(yt[s], yp[s], sample_weight=None if sw is None else sw[s])
    np.testing.assert_allclose(m.result(), expected, rtol=1e-5)
    np.testing.assert_allclose(fb.result(), ref_fbeta(yt, pred, weights_or_ones(sw, n), 2.0, average), rtol=1e-5)
    assert isinstance(m.result(), float) == (average is not None)
    m.reset_state()
    assert np.all(np.asarray(m.result()) == 0)


def test_state_unchanged_when_update_fails(rng):
    m = K.CategoricalAccuracy()
    m.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 2]])
    with pytest.raises(ValueError, match="sample_weight"):
        m.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 1]], sample_weight=[1.0, 2.0, 3.0])
    assert m.result() == 0.5
    f = K.F1Score()
    f.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 1]])
    before = f.result().copy()
    with pytest.raises(ValueError, match=r"\[F1Score\] expected y_true and y_pred of shape \(batch_size, 3\)"):
        f.update_state(np.eye(4)[[0, 1]], np.eye(4)[[0, 1]])
    np.testing.assert_array_equal(f.result(), before)


def test_config_round_trip():
    for metric in (K.BinaryAccuracy(threshold=0.7, name="ba"), K.Precision(thresholds=[0.3, 0.6], class_id=1),
                   K.Recall(top_k=3), K.F1Score(average="macro", threshold=0.5), K.TopKCategoricalAccuracy(k=3),
                   K.RootMeanSquaredError(name="r")):
        config = metric.get_config()
        clone = type(metric).from_config(config)
        assert clone.get_config() == config
        assert K.deserialize(K.serialize(metric)).get_config() == config
    assert K.BinaryAccuracy(threshold=0.7).get_config() == {"name": "binary_accuracy", "dtype": "float32",
                                                             "threshold": 0.7}
    assert "beta" not in K.F1Score().get_config()


# ---------------------------------------------------------------------------------------------
# get
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [
    ("accuracy", K.Accuracy), ("acc", K.Accuracy), ("binary_accuracy", K.BinaryAccuracy),
    ("categorical_accuracy", K.CategoricalAccuracy), ("sparse_categorical_accuracy", K.SparseCategoricalAccuracy),
    ("top_k_categorical_accuracy", K.TopKCategoricalAccuracy), ("precision", K.Precision), ("recall", K.Recall),
    ("f1_score", K.F1Score), ("mae", K.MeanAbsoluteError), ("MAE", K.MeanAbsoluteError),
    ("mse", K.MeanSquaredError), ("rmse", K.RootMeanSquaredError), ("mean_absolute_error", K.MeanAbsoluteError),
    ("mean_squared_error", K.MeanSquaredError), ("root_mean_squared_error", K.RootMeanSquaredError),
    ("CategoricalAccuracy", K.CategoricalAccuracy), ("mean", K.Mean),
])
def test_get_names(name, cls):
    metric = K.get(name)
    assert type(metric) is cls


def test_get_instances_classes_functions_dicts():
    m = K.Recall()
    assert K.get(m) is m
    assert K.get(None) is None
    assert type(K.get(K.Precision)) is K.Precision
    wrapped = K.get(K.binary_accuracy)
    assert isinstance(wrapped, K.MeanMetricWrapper) and wrapped.name == "binary_accuracy"
    assert wrapped([1, 0, 1], [[0.9], [0.2], [0.1]]) == pytest.approx(2 / 3)
    m = K.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.8}})
    assert isinstance(m, K.BinaryAccuracy) and m.threshold == 0.8


def test_get_errors():
    with pytest.raises(ValueError, match=r"\[metrics.get\] Could not interpret metric identifier: 'acuracy'.*"
                                         r"Known names: .*categorical_accuracy"):
        K.get("acuracy")
    with pytest.raises(ValueError, match="Could not interpret"):
        K.get(42)
    with pytest.raises(ValueError, match="unknown metric class"):
        K.get({"class_name": "Nope", "config": {}})


def test_class_argument_errors():
    with pytest.raises(ValueError, match=r"\[BinaryAccuracy\] .*threshold=1.5"):
        K.BinaryAccuracy(threshold=1.5)
    with pytest.raises(ValueError, match=r"\[Precision\] Threshold values must be in \[0, 1\]"):
        K.Precision(thresholds=[0.5, 2.0])
    with pytest.raises(ValueError, match=r"\[F1Score\] Invalid `average`"):
        K.F1Score(average="binary")
    with pytest.raises(ValueError, match=r"\[F1Score\] Invalid `threshold`"):
        K.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match=r"\[FBetaScore\] Invalid `beta`"):
        K.FBetaScore(beta=-1.0)
    with pytest.raises(ValueError, match=r"\[F1Score\] FBetaScore expects 2D inputs"):
        K.F1Score().update_state([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match=r"\[Recall\] When class_id is provided"):
        K.Recall(class_id=0).update_state([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match=r"\[Precision\] y_true shape \(2, 3\) and y_pred shape \(2, 4\)"):
        K.Precision().update_state(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\[Mean\] dtype 'flaot32'"):
        K.Mean(dtype="flaot32")


def test_subclassing_metric_as_in_keras():
    class BinaryTruePositives(K.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            values = np.logical_and(np.asarray(y_true, bool), np.asarray(y_pred, bool)).astype(float)
            self.true_positives.assign(self.true_positives + values.sum())

        def result(self):
            return float(self.true_positives)

    m = BinaryTruePositives()
    assert m([1, 0, 1, 1], [1, 1, 0, 1]) == 2.0
    assert m([1], [1]) == 3.0
    m.reset_state()
    assert m.result() == 0.0 and len(m.variables) == 1


# ---------------------------------------------------------------------------------------------
# Optional cross-check against scikit-learn
# ---------------------------------------------------------------------------------------------

def test_against_scikit_learn(rng):
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed (optional cross-check)")
    yt, yp = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    sw = rng.random(200)
    for average in AVERAGES:
        for name in ("precision_score", "recall_score", "f1_score"):
            np.testing.assert_allclose(getattr(M, name)(yt, yp, average=average, sample_weight=sw),
                                       getattr(sk, name)(yt, yp, average=average, sample_weight=sw))
    for normalize in (None, "true", "pred", "all"):
        np.testing.assert_allclose(M.confusion_matrix(yt, yp, normalize=normalize, sample_weight=sw),
                                   sk.confusion_matrix(yt, yp, normalize=normalize, sample_weight=sw))


def test_rank1_inputs_functions_reduce_classes_count_elements(rng):
    yt, yp = rng.integers(0, 2, 9), rng.random(9)
    # the functions keep Keras's semantics: 1-D inputs reduce to one value
    assert M.binary_accuracy(yt, yp).shape == ()
    assert M.binary_accuracy(yt, yp) == pytest.approx(np.mean(yt == (yp > 0.5)))
    assert K.mean_squared_error(yt, yp) == pytest.approx(np.mean((yt - yp) ** 2), rel=1e-6)
    # the classes take each element of 1-D inputs as a sample, so (N,) weights apply
    sw = rng.random(9)
    for metric, per_sample in ((K.BinaryAccuracy(), yt == (yp > 0.5)), (K.Accuracy(), yt == (yp > 0.5)),
                               (K.MeanSquaredError(), (yt - yp) ** 2), (K.MeanAbsoluteError(), np.abs(yt - yp))):
        pred = (yp > 0.5).astype(int) if isinstance(metric, K.Accuracy) else yp
        metric.update_state(yt[:4], pred[:4], sample_weight=sw[:4])
        metric.update_state(yt[4:], pred[4:], sample_weight=sw[4:])
        assert metric.result() == pytest.approx((per_sample * sw).sum() / sw.sum(), rel=1e-6), metric.name


@pytest.mark.parametrize("module", ["fastnn.metrics", "fastnn.keras.metrics", "fastnn.keras.metrics.metric",
                                    "fastnn.keras.metrics.reduction_metrics", "fastnn.keras.metrics.accuracy_metrics",
                                    "fastnn.keras.metrics.confusion_metrics", "fastnn.keras.metrics.f_score_metrics",
                                    "fastnn.keras.metrics.regression_metrics"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), extraglobs={"np": np},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
