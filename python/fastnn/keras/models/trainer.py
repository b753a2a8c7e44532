"""Trainer: compile / fit / evaluate / predict and the *_on_batch methods with Keras 3's
semantics, mixed into :class:`~fastnn.keras.models.Model`. A step: forward in training
mode, the compiled loss plus ``model.losses`` (regularization and add_loss penalties, in
training and in evaluation, as Keras 3's compute_loss), ``backward``,
``optimizer.apply``; logs are Python floats (the loss a batch-size-weighted running mean,
metrics their running results).
"""

import warnings

import numpy as np

from ...autograd import no_grad
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..callbacks.callback import CallbackList
from .data import (ArrayBatches, IterableBatches, as_array, as_inputs, batches_for, is_array, num_samples,
                   split_validation, take, to_tensors)

__all__ = ["Trainer"]

_VERBOSE = {"auto": 1, 0: 0, 1: 1, 2: 2, True: 1, False: 0}


def _verbose(op, verbose):
    if verbose not in _VERBOSE:
        raise ValueError(f"[{op}] verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return _VERBOSE[verbose]


def _result(value):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value
    return float(value)


def _arrays(out):
    """A model's output as NumPy: one array, or a list / dict of them (several outputs)."""
    if isinstance(out, dict):
        return {k: v.data for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return [v.data for v in out]
    return out.data


class _Mean:
    """A running mean weighted by batch size (Keras's loss tracker)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, value, weight):
        self.total += value * weight
        self.count += weight

    def result(self):
        return self.total / self.count if self.count else 0.0


def _sample_weights(class_weight, y, sample_weight):
    """Keras's class_weight: each sample's weight is class_weight[its class] (the argmax of a
    one-hot y, or the index itself), times sample_weight if given."""
    if class_weight is None:
        return sample_weight
    if y is None:
        raise ValueError("[fit] class_weight needs targets y")
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"[fit] class_weight has no entry for class(es) {missing}")
    table = np.zeros(int(max(max(class_weight), labels.max(initial=0))) + 1, np.float32)
    for k, w in class_weight.items():
        table[int(k)] = w
    w = table[labels]
    return w if sample_weight is None else w * as_array(sample_weight, "sample_weight").reshape(len(w), -1)[:, 0]


class Trainer:
    """compile / fit / evaluate / predict (mixed into Model)."""

    def _trainer_init(self):
        object.__setattr__(self, "optimizer", None)
        object.__setattr__(self, "loss", None)
        object.__setattr__(self, "compiled", False)
        object.__setattr__(self, "stop_training", False)
        object.__setattr__(self, "history", None)
        object.__setattr__(self, "_loss_obj", None)
        object.__setattr__(self, "_loss_weight", 1.0)
        object.__setattr__(self, "_metric_specs", ([], []))
        object.__setattr__(self, "_metric_objs", None)
        object.__setattr__(self, "_loss_tracker", _Mean())
        object.__setattr__(self, "_last_batch_outputs", None)
        object.__setattr__(self, "_has_extra_losses", None)  # None: not looked at since compile/fit began

    # ---- compile ----

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Configure training.

        Args:
            optimizer: a name (``'adam'``, ``'sgd'``, ``'rmsprop'``, ``'adagrad'``, ``'adamw'``)
                or an Optimizer (default ``'rmsprop'``, as Keras).
            loss: a name (``'mse'``, ``'sparse_categorical_crossentropy'``, ...), a Loss, or a
                callable ``fn(y_true, y_pred)`` returning per-sample losses.
            loss_weights: a float (or a one-entry list/dict) multiplying the loss.
            metrics: names or Metric objects (``['accuracy']``); 'accuracy'/'acc' resolves to
                binary, sparse categorical or categorical accuracy from the shapes, as Keras.
            weighted_metrics: metrics that also receive the sample weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for
                Keras compatibility (fastnn always runs eagerly, one step at a time).
        """
        del run_eagerly, jit_compile, auto_scale_loss
        if self._num_outputs() > 1:
            raise NotImplementedError(f"[compile] model '{self.name}' has {self._num_outputs()} outputs; fastnn.keras "
                                      "trains models with one output (predict and calling the model support several)")
        if steps_per_execution != 1:
            raise NotImplementedError("[compile] steps_per_execution other than 1 is not supported")
        opt = optimizers_module.get(optimizer)
        loss_obj = losses_module.get(loss)
        weight = 1.0
        if loss_weights is not None:
            if isinstance(loss_weights, dict):
                loss_weights = list(loss_weights.values())
            if isinstance(loss_weights, (list, tuple)):
                if len(loss_weights) != 1:
                    raise ValueError(f"[compile] loss_weights has {len(loss_weights)} entries for a model with one "
                                     "output")
                loss_weights = loss_weights[0]
            weight = float(loss_weights)
        specs = (list(metrics or []), list(weighted_metrics or []))
        if not isinstance(metrics, (list, tuple, type(None))) or not isinstance(weighted_metrics,
                                                                               (list, tuple, type(None))):
            raise TypeError("[compile] metrics and weighted_metrics must be lists")
        if specs[0] or specs[1]:
            from .. import metrics as _metrics  # noqa: F401  (fails clearly if metrics are not installed)
        object.__setattr__(self, "optimizer", opt)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "_loss_obj", loss_obj)
        object.__setattr__(self, "_loss_weight", weight)
        object.__setattr__(self, "_metric_specs", specs)
        object.__setattr__(self, "_metric_objs", None)
        object.__setattr__(self, "_has_extra_losses", None)
        object.__setattr__(self, "compiled", True)
        object.__setattr__(self, "_compile_config", {"optimizer": optimizer if isinstance(optimizer, str) else None,
                                                     "loss": loss if isinstance(loss, str) else None,
                                                     "loss_weights": loss_weights,
                                                     "metrics": [m for m in specs[0] if isinstance(m, str)],
                                                     "weighted_metrics": [m for m in specs[1] if isinstance(m, str)]})

    def _assert_compiled(self, op):
        if not self.compiled:
            raise RuntimeError(f"[{op}] You must call `compile()` before using the model.")
        if self._loss_obj is None and op in ("fit", "evaluate", "train_on_batch", "test_on_batch"):
            raise ValueError(f"[{op}] No loss to compute. Provide a `loss` argument in `compile()`.")

    # ---- metrics ----

    def _resolve_metric(self, spec, y_true, y_pred):
        """Keras's compile rule: 'accuracy'/'acc' becomes binary accuracy when y_pred's last
        axis is 1, sparse categorical accuracy when y_true has a lower rank (or a last axis
        of 1 against several classes), else categorical accuracy; a string keeps the name
        the user wrote as its log key."""
        from .. import metrics as metrics_module
        if isinstance(spec, str) and spec.lower() in ("accuracy", "acc"):
            y_t = np.asarray(y_true)
            binary = y_pred.shape[-1] == 1
            sparse = y_t.ndim < y_pred.ndim or (y_t.shape[-1] == 1 and y_pred.shape[-1] > 1)
            metric = metrics_module.get("binary_accuracy" if binary else "sparse_categorical_accuracy" if sparse
                                        else "categorical_accuracy")
        else:
            metric = metrics_module.get(spec)
        if isinstance(spec, str):
            metric.name = spec
        return metric

    def _metrics_for(self, y_true, y_pred):
        if self._metric_objs is None:
            plain, weighted = self._metric_specs
            objs = [(self._resolve_metric(m, y_true, y_pred), False) for m in plain]
            objs += [(self._resolve_metric(m, y_true, y_pred), True) for m in weighted]
            object.__setattr__(self, "_metric_objs", objs)
        return self._metric_objs

    @property
    def metrics(self):
        """The compiled metric objects (after the first batch), as Keras lists them after the loss."""
        return [m for m, _ in self._metric_objs or []]

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def reset_metrics(self):
        """Reset the loss tracker and every compiled metric."""
        self._loss_tracker.__init__()
        for m, _ in self._metric_objs or []:
            m.reset_state()

    def _update_metrics(self, y, y_pred, sw):
        if not (self._metric_specs[0] or self._metric_specs[1]) or y is None:
            return
        for m, weighted in self._metrics_for(y, y_pred):
            m.update_state(y, y_pred, sample_weight=sw if weighted else None)

    def _logs(self, prefix=""):
        logs = {prefix + "loss": float(self._loss_tracker.result())}
        for m, _ in self._metric_objs or []:
            logs[prefix + m.name] = _result(m.result())
        return logs

    # ---- steps ----

    def _train_variables(self):
        return self.trainable_weights

    def _compute_loss(self, y, y_pred, sw):
        """The compiled loss (times loss_weights) plus every penalty in ``self.losses``
        (non-scalar ones summed), as Keras 3's compute_loss. Whether the model has any
        penalties is looked up on the first step of each fit / evaluate / *_on_batch and
        then kept, as Keras caches it."""
        loss = self._loss_obj(y, y_pred, sample_weight=sw)
        if self._loss_weight != 1.0:
            loss = loss * self._loss_weight
        if self._has_extra_losses is not False:
            extra = self.losses
            if self._has_extra_losses is None:
                object.__setattr__(self, "_has_extra_losses", bool(extra))
            for penalty in extra:
                loss = loss + (penalty if penalty.ndim == 0 else penalty.sum())
        return loss

    def _train_step(self, x, y, sw, params):
        if y is None:
            raise ValueError("[fit] the data gives no targets y")
        y_pred = self(to_tensors(x), training=True)
        loss = self._compute_loss(y, y_pred, sw)
        for p in params:
            p.grad = None
        loss.backward()
        self.optimizer.apply([None if p.grad is None else p.grad.data for p in params], params)
        value = float(loss.data)
        self._loss_tracker.update(value, num_samples(x))
        self._update_metrics(y, y_pred.data, sw)
        return value

    def _test_step(self, x, y, sw):
        if y is None:
            raise ValueError("[evaluate] the data gives no targets y")
        with no_grad():
            y_pred = self(to_tensors(x), training=False)
            loss = self._compute_loss(y, y_pred, sw)
        self._loss_tracker.update(float(loss.data), num_samples(x))
        self._update_metrics(y, y_pred.data, sw)

    def _ensure_optimizer(self, x):
        """Build the model (from a batch, when it was not) and the optimizer's state."""
        if not self.built:
            self._build_from_batch(x)
        params = self._train_variables()
        if not self.optimizer.built:
            self.optimizer.build(params)
        return params

    def _build_from_batch(self, x):
        with no_grad():
            self(to_tensors(take(x, slice(0, 1))), training=False)

    # ---- fit ----

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (from ``initial_epoch``) and return the History.

        Args:
            x, y: NumPy arrays or fastnn Tensors (samples on the first axis), or x an iterable
                of ``(x, y)`` / ``(x, y, sample_weight)`` batches (a DataLoader) and y None.
            batch_size: default 32 (arrays only).
            epochs, initial_epoch: train epochs ``initial_epoch .. epochs - 1``.
            verbose: 'auto' (= 1), 0, 1 (progress bar) or 2 (one line per epoch).
            callbacks: Callback objects; a History is always added, a ProgbarLogger when
                verbose != 0.
            validation_split: the fraction of the samples held out for validation: the LAST
                ones, taken before any shuffling (Keras's rule). Arrays only.
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight_val)`` or an
                iterable of batches; overrides validation_split.
            shuffle: True (a new permutation each epoch, from fastnn's generator, so
                :func:`fastnn.manual_seed` makes it reproducible), 'batch' or False.
            class_weight: dict class index -> weight. sample_weight: per-sample weights.
            steps_per_epoch: batches per epoch (default: all).
            validation_steps, validation_batch_size, validation_freq: as Keras.

        Returns:
            The :class:`~fastnn.keras.callbacks.History` (also ``model.history``).
        """
        self._assert_compiled("fit")
        v = _verbose("fit", verbose)
        object.__setattr__(self, "_has_extra_losses", None)
        if validation_data is None and validation_split:
            (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight, validation_split)
        if class_weight is not None:
            if not is_array(x):
                raise ValueError("[fit] class_weight is only supported with array inputs")
            sample_weight = _sample_weights(class_weight, as_array(y, "y"), sample_weight)
        data = batches_for("fit", x, y, sample_weight, batch_size, shuffle, steps_per_epoch)
        val = None
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
                vx, vy = validation_data[0], validation_data[1]
                vsw = validation_data[2] if len(validation_data) == 3 else None
                val = batches_for("fit", vx, vy, vsw, validation_batch_size or batch_size or 32, False,
                                  validation_steps)
            else:
                val = batches_for("fit", validation_data, None, None, None, False, validation_steps)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=v != 0, model=self, verbose=v,
                           epochs=int(epochs), steps=data.num_batches)
        was_training = self.training
        object.__setattr__(self, "stop_training", False)
        self.train(True)
        params = None
        logs = {}
        try:
            cbs.on_train_begin()
            for epoch in range(int(initial_epoch), int(epochs)):
                self.reset_metrics()
                cbs.on_epoch_begin(epoch)
                seen = 0
                for step, (bx, by, bsw) in enumerate(data):
                    if params is None:
                        params = self._ensure_optimizer(bx)
                    cbs.on_train_batch_begin(step)
                    self._train_step(bx, by, bsw, params)
                    seen += 1
                    cbs.on_train_batch_end(step, self._logs())
                    if self.stop_training:
                        break
                if seen == 0 and isinstance(data, IterableBatches):
                    warnings.warn("[fit] Your input ran out of data; interrupting training.", UserWarning,
                                  stacklevel=2)
                    break
                logs = self._logs()
                if val is not None and (epoch + 1) % int(validation_freq) == 0:
                    logs.update(self._run_evaluation(val, cbs, prefix="val_"))
                    self.train(True)
                cbs.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            cbs.on_train_end(logs)
        finally:
            self.train(was_training)
        object.__setattr__(self, "history", cbs._history)
        return cbs._history

    # ---- evaluate / predict ----

    def _run_evaluation(self, batches, cbs, prefix=""):
        self.eval()
        self.reset_metrics()
        cbs.on_test_begin()
        for step, (bx, by, bsw) in enumerate(batches):
            cbs.on_test_batch_begin(step)
            self._test_step(bx, by, bsw)
            cbs.on_test_batch_end(step, self._logs())
        logs = self._logs()
        cbs.on_test_end(logs)
        return {prefix + k: val for k, val in logs.items()}

    def _flatten_logs(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """The loss (and metrics) over the data, in inference mode.

        Returns:
            The loss as a float when no metrics were compiled, else ``[loss, metric, ...]``
            in compile order; a dict ``{"loss": ..., name: ...}`` with ``return_dict=True``.
        """
        if kwargs:
            raise ValueError(f"[evaluate] Arguments not recognized: {kwargs}")
        self._assert_compiled("evaluate")
        v = _verbose("evaluate", verbose)
        object.__setattr__(self, "_has_extra_losses", None)
        data = batches_for("evaluate", x, y, sample_weight, batch_size, False, steps)
        cbs = CallbackList(callbacks, add_progbar=v != 0, model=self, verbose=v, epochs=1, steps=data.num_batches)
        was_training = self.training
        try:
            if not self.built:
                first = next(iter(data), None)
                if first is not None:
                    self._build_from_batch(first[0])
            logs = self._run_evaluation(data, cbs)
        finally:
            self.train(was_training)
        return self._flatten_logs(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x (arrays, Tensors or an iterable of batches, whose y is
        ignored), batch by batch in inference mode, concatenated as one NumPy array."""
        v = _verbose("predict", verbose)
        if is_array(x):
            data = ArrayBatches(as_inputs(x, "x"), None, None, batch_size or 32, False, steps)
        else:
            data = batches_for("predict", x, None, None, batch_size, False, steps)
        cbs = CallbackList(callbacks, add_progbar=v != 0, model=self, verbose=v, epochs=1, steps=data.num_batches)
        was_training = self.training
        self.eval()
        outputs = []
        try:
            cbs.on_predict_begin()
            for step, (bx, _, _) in enumerate(data):
                cbs.on_predict_batch_begin(step)
                with no_grad():
                    out = self(to_tensors(bx), training=False)
                out = _arrays(out)
                outputs.append(out)
                cbs.on_predict_batch_end(step, {"outputs": out})
            cbs.on_predict_end()
        finally:
            self.train(was_training)
        if not outputs:
            raise ValueError("[predict] the data gave no batches")
        if isinstance(outputs[0], dict):
            return {k: np.concatenate([o[k] for o in outputs], axis=0) for k in outputs[0]}
        if isinstance(outputs[0], list):
            return [np.concatenate([o[i] for o in outputs], axis=0) for i in range(len(outputs[0]))]
        return np.concatenate(outputs, axis=0)

    # ---- single batches ----

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch. Returns the loss (and metrics) tracked since the
        last reset (fit resets them each epoch; see :meth:`reset_metrics`), as Keras 3."""
        self._assert_compiled("train_on_batch")
        object.__setattr__(self, "_has_extra_losses", None)
        xa, ya = as_inputs(x, "x"), as_array(y, "y")
        sw = _sample_weights(class_weight, ya, sample_weight) if class_weight is not None else \
            as_array(sample_weight, "sample_weight")
        params = self._ensure_optimizer(xa)
        was_training = self.training
        self.train(True)
        try:
            self._train_step(xa, ya, sw, params)
        finally:
            self.train(was_training)
        return self._flatten_logs(self._logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) on one batch in inference mode, accumulated as
        :meth:`train_on_batch`'s."""
        self._assert_compiled("test_on_batch")
        object.__setattr__(self, "_has_extra_losses", None)
        xa = as_inputs(x, "x")
        if not self.built:
            self._build_from_batch(xa)
        was_training = self.training
        self.eval()
        try:
            self._test_step(xa, as_array(y, "y"), as_array(sample_weight, "sample_weight"))
        finally:
            self.train(was_training)
        return self._flatten_logs(self._logs(), return_dict)

    def predict_on_batch(self, x):
        """The model's output on one batch (inference mode), as a NumPy array."""
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                out = self(to_tensors(as_inputs(x, "x")), training=False)
        finally:
            self.train(was_training)
        return _arrays(out)
