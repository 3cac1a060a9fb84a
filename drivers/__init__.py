"""Device drivers: bytes from bedside devices -> :class:`edge.vocabulary.Reading`.

One device = one module (IntelliVue: one package) holding its protocol notes, a
pure incremental decoder, an encoder, its simulator model and its
:class:`~drivers.base.DriverSpec` (signals, a sample frame, serial defaults),
named by one line in :mod:`drivers.registry` (``shared/docs/style.md``,
rtl_433). Around them:

- :mod:`drivers.base`: the ``Decoder``/``Session`` protocols, ``DriverSpec`` and
  the ``Clock`` protocol; :mod:`drivers.model`: what a simulator model is.
- :mod:`drivers.framing`: line framing shared by the ASCII drivers.
- :mod:`drivers.transport`: ``DeviceLink`` keeps one device connected
  (pyserial), configured by its own ``SerialSettings``.
- :mod:`drivers.capture`: raw-byte capture files.
- :mod:`drivers.simulator`: the simulator engine, endpoints and scenario
  language (never imported by the live path).

Drivers import nothing of ``edge`` but the vocabulary.
"""

from drivers.base import Decoder, DriverSpec
from drivers.registry import driver_names, get_driver

__all__ = ["Decoder", "DriverSpec", "driver_names", "get_driver"]
