"""Saving and loading Keras models in fastnn's data-only format (:func:`fastnn.save`, never
a pickle): ``save_weights``/``load_weights`` take ``*.weights.fnn``, ``save``/``load_model``
take ``*.fnn`` (fastnn writes neither HDF5 nor Keras's zip archive, so it does not use
their ``.weights.h5`` / ``.keras`` suffixes).
"""

import json
import os

import numpy as np

from ...serialization import load, save

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_MODEL, _WEIGHTS = "fastnn.keras.model", "fastnn.keras.weights"


def _path(op, filepath, suffix):
    path = os.fspath(filepath)
    if not isinstance(path, str):
        raise TypeError(f"[{op}] filepath must be a path string, got {type(filepath).__name__}")
    name = path.lower()
    if suffix == ".weights.fnn":
        ok = name.endswith(".weights.fnn")
        hint = ("Keras's `.weights.h5` names an HDF5 file, which fastnn does not write; "
                if name.endswith(".h5") else "")
    else:
        ok = name.endswith(".fnn") and not name.endswith(".weights.fnn")
        hint = ("`.keras` and `.h5` name Keras's zip and HDF5 formats, which fastnn does not write; "
                if name.endswith((".keras", ".h5")) else "")
    if not ok:
        extra = " (and not `.weights.fnn`)" if suffix == ".fnn" else ""
        raise ValueError(f"[{op}] The filename must end in `{suffix}`{extra}. {hint}Received: filepath={path}")
    return path


def _check_overwrite(op, path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"[{op}] {path} exists and overwrite=False")


def save_weights(model, filepath, overwrite=True):
    path = _path("save_weights", filepath, ".weights.fnn")
    _check_overwrite("save_weights", path, overwrite)
    if not model.built:
        raise ValueError(f"[save_weights] model '{model.name}' is not built yet: build it (call it, fit it, or give it "
                         "an Input) before saving its weights")
    save({"format": _WEIGHTS, "version": 1, "weights": model.get_weights()}, path)


def _read(op, path):
    data = load(path)
    if not isinstance(data, dict) or data.get("format") not in (_MODEL, _WEIGHTS):
        raise ValueError(f"[{op}] {path} is not a fastnn.keras model or weights file")
    if data.get("version") != 1:
        raise ValueError(f"[{op}] {path}: unsupported format version {data.get('version')!r}")
    return data


def load_weights(model, filepath, skip_mismatch=False):
    path = os.fspath(filepath)
    if not str(path).lower().endswith(".fnn"):
        _path("load_weights", path, ".weights.fnn")
    data = _read("load_weights", path)
    if not model.built:
        raise ValueError(f"[load_weights] model '{model.name}' is not built yet: build it before loading weights")
    weights = [np.asarray(w) for w in data["weights"]]
    if skip_mismatch:
        current = model.get_weights()
        if len(current) != len(weights):
            return
        weights = [w if w.shape == c.shape else c for w, c in zip(weights, current)]
    model.set_weights(weights)


def save_model(model, filepath, overwrite=True):
    """Write a whole model. The file (through :func:`fastnn.save`) holds::

        {"format": "fastnn.keras.model", "version": 1,
         "config": JSON text {"class_name": ..., "config": model.get_config()},
         "weights": [arrays in get_weights() order],
         "compile": JSON text of the compile settings, or "",
         "optimizer": {"iterations": int, "slots": {name: [arrays]}} or {}}

    A weights file holds ``format`` ``fastnn.keras.weights``, ``version`` and ``weights``.
    """
    path = _path("save", filepath, ".fnn")
    _check_overwrite("save", path, overwrite)
    if not model.built:
        raise ValueError(f"[save] model '{model.name}' is not built yet: build it before saving")
    config = json.dumps({"class_name": type(model).__name__, "config": model.get_config()})
    compiled, optimizer = "", {}
    if getattr(model, "compiled", False):
        from .. import losses, optimizers
        loss = model._loss_obj
        try:
            loss_config = losses.serialize(loss) if loss is not None else None
        except ValueError:
            loss_config = model._compile_config["loss"]
            if loss_config is None:
                raise ValueError("[save] the compiled loss is a custom callable that cannot be saved; save_weights "
                                 "instead, or compile with a built-in loss") from None
        cc = dict(model._compile_config)
        cc["loss"] = loss_config
        cc["optimizer"] = optimizers.serialize(model.optimizer)
        compiled = json.dumps(cc)
        if model.optimizer.built:
            optimizer = {"iterations": int(model.optimizer.iterations), "slots": model.optimizer._export_slots()}
    save({"format": _MODEL, "version": 1, "config": config, "weights": model.get_weights(), "compile": compiled,
          "optimizer": optimizer}, path)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model written by ``model.save(filepath)``: architecture, weights, and (with
    ``compile=True``) its compile settings and optimizer state.

    Args:
        filepath: a ``.fnn`` file written by ``Model.save``.
        custom_objects: dict from class name to class, for layers or models defined
            outside fastnn.keras (they need ``get_config`` / ``from_config``).
        compile: re-compile the model as it was saved (default True).
        safe_mode: accepted for Keras compatibility; the format never runs code.

    Raises:
        ValueError: a wrong suffix, a file that is not a fastnn.keras model file, or a
            class that is unknown and not in custom_objects.
    """
    del safe_mode
    from .. import losses, optimizers
    from .functional import Functional
    from .sequential import Sequential
    path = _path("load_model", filepath, ".fnn")
    data = _read("load_model", path)
    if data["format"] != _MODEL:
        raise ValueError(f"[load_model] {path} holds only weights; build the model and call load_weights")
    entry = json.loads(data["config"])
    custom_objects = custom_objects or {}
    cls = custom_objects.get(entry["class_name"]) or {"Sequential": Sequential,
                                                      "Functional": Functional}.get(entry["class_name"])
    if cls is None:
        raise ValueError(f"[load_model] Unknown model class {entry['class_name']!r}: pass it in custom_objects")
    model = cls.from_config(entry["config"], custom_objects=custom_objects) if cls in (Sequential, Functional) \
        else cls.from_config(entry["config"])
    if not model.built:
        shape = entry["config"].get("build_input_shape")
        if shape is None:
            raise ValueError(f"[load_model] cannot build {entry['class_name']} without its build_input_shape")
        model.build(tuple(shape))
    model.set_weights([np.asarray(w) for w in data["weights"]])
    if compile and data["compile"]:
        cc = json.loads(data["compile"])
        loss = cc["loss"]
        model.compile(optimizer=optimizers.deserialize(cc["optimizer"]),
                      loss=losses.deserialize(loss) if isinstance(loss, dict) else loss,
                      loss_weights=cc.get("loss_weights"), metrics=cc.get("metrics") or None,
                      weighted_metrics=cc.get("weighted_metrics") or None)
        state = data["optimizer"]
        if state:
            model.optimizer.build(model.trainable_weights)
            model.optimizer._import_slots(state["slots"])
            model.optimizer.iterations = int(state["iterations"])
    return model
