"""Keras's backend helpers that fastnn.keras needs: layer-name counters (``dense``,
``dense_1``, ...), :func:`clear_session`, the float epsilon, the image data format, and
:func:`set_random_seed` (Keras's ``keras.utils.set_random_seed``).

The counters are per prefix and live in one module-level dict; :func:`clear_session`
empties it, as Keras's does. It does not reseed anything (Keras's does not either).
"""

import random
import re

import numpy as np

__all__ = ["clear_session", "epsilon", "floatx", "image_data_format", "get_uid", "set_random_seed"]

_UIDS = {}
_EPSILON = 1e-7


def get_uid(prefix=""):
    """1 on the first call for ``prefix``, then 2, 3, ... (until :func:`clear_session`)."""
    _UIDS[prefix] = _UIDS.get(prefix, 0) + 1
    return _UIDS[prefix]


def unique_name(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ... as Keras names layers."""
    n = get_uid(prefix)
    return prefix if n == 1 else f"{prefix}_{n - 1}"


def snake_case(name):
    """``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def clear_session(free_memory=True):
    """Reset the name counters, so the next ``Dense`` is named ``dense`` again.

    Args:
        free_memory: accepted for Keras compatibility; fastnn holds no global graph or
            device memory to release.
    """
    del free_memory
    _UIDS.clear()


def epsilon():
    """The fuzz factor of the losses' probability clipping: 1e-7, as Keras."""
    return _EPSILON


def floatx():
    """The default float type: ``'float32'``."""
    return "float32"


def image_data_format():
    """The default ``data_format`` of the image layers: ``'channels_last'``, as Keras."""
    return "channels_last"


def set_random_seed(seed):
    """Seed every generator a Keras program draws from: Python's ``random``, NumPy's global
    one and fastnn's (weight initialisers, dropout masks, fit's shuffling), as
    ``keras.utils.set_random_seed`` does.

    Raises:
        ValueError: a seed that is not an int.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"[set_random_seed] Expected `seed` argument to be an integer. Received: seed={seed!r} "
                         f"(of type {type(seed).__name__})")
    from ..tensor import manual_seed
    random.seed(int(seed))
    np.random.seed(int(seed))
    manual_seed(int(seed))
