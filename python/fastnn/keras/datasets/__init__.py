"""Keras's ``keras.datasets`` loaders: ``fashion_mnist.load_data()`` and
``mnist.load_data()``, reading the IDX files found by :mod:`fastnn.datasets`."""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
