"""``fastnn.nn.functional``: the functional API (:mod:`fastnn.functional`), under the name
``torch.nn.functional`` has, so ``import fastnn.nn.functional as F`` ports directly."""

from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
