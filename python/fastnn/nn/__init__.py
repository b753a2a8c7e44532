"""fastnn.nn: PyTorch-style modules (``import fastnn.nn as nn``), with torch.nn's names,
arguments, defaults, initialisation and semantics."""

from . import functional, init
from .activation import *  # noqa: F401,F403
from .activation import __all__ as _activation
from .batchnorm import *  # noqa: F401,F403
from .batchnorm import __all__ as _batchnorm
from .container import *  # noqa: F401,F403
from .container import __all__ as _container
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv
from .dropout import *  # noqa: F401,F403
from .dropout import __all__ as _dropout
from .linear import *  # noqa: F401,F403
from .linear import __all__ as _linear
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss
from .module import Module
from .parameter import Parameter
from .pooling import *  # noqa: F401,F403
from .pooling import __all__ as _pooling
from . import utils  # noqa: E402

__all__ = (["Module", "Parameter", "functional", "init", "utils"] + _activation + _batchnorm + _container + _conv
           + _dropout + _linear + _loss + _pooling)
