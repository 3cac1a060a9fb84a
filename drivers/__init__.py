"""Device drivers: bytes from bedside devices -> :class:`edge.vocabulary.Reading`.

A driver module is protocol documentation + a pure incremental decoder + an
encoder for its simulator + one entry in :mod:`drivers.registry`
(``shared/docs/style.md``, rtl_433). Drivers import the vocabulary only.
"""

from drivers.base import Decoder, DriverSpec
from drivers.registry import driver_names, get_driver

__all__ = ["Decoder", "DriverSpec", "driver_names", "get_driver"]
