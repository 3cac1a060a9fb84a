"""Device simulators: every driver's protocol, spoken over a real pty, a path or TCP.

The engine (python-can's ``virtual`` interface and player, ``shared/docs/style.md``)
is device-independent; what a device sends is its driver module's simulator
model (``DriverSpec.model``, :mod:`drivers.model`):

- :mod:`drivers.simulator.engine`: :class:`Simulator` (a scenario through a
  model over an endpoint, on an injected clock), :class:`Faults`,
  :func:`make_model` (the model from the registry) and :func:`replay_capture`.
- :mod:`drivers.simulator.endpoints`: ``pty``, a ``PATH`` or
  ``socket://HOST:PORT`` (:func:`open_endpoint`).
- :mod:`drivers.simulator.scenario`: the scenario language (builtins,
  constants and ramps, replay CSVs, plug-ins such as the virtual patient).

``capleak simulate`` is the command-line shell over it. Nothing in the live
data path imports this package. The names below are imported on first use, so
``capleak`` builds its parsers (which need only the scenario language) without
loading the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drivers.model import (
        DeviceModel,
        VitalState,
    )
    from drivers.simulator.endpoints import (
        Endpoint,
        PathEndpoint,
        PtyEndpoint,
        SocketEndpoint,
        open_endpoint,
    )
    from drivers.simulator.engine import (
        Faults,
        Simulator,
        Window,
        make_model,
        parse_window,
        replay_capture,
    )

#: name -> the module that defines it
_WHERE = {
    "DeviceModel": "drivers.model",
    "VitalState": "drivers.model",
    "Endpoint": "drivers.simulator.endpoints",
    "PathEndpoint": "drivers.simulator.endpoints",
    "PtyEndpoint": "drivers.simulator.endpoints",
    "SocketEndpoint": "drivers.simulator.endpoints",
    "open_endpoint": "drivers.simulator.endpoints",
    "Faults": "drivers.simulator.engine",
    "Simulator": "drivers.simulator.engine",
    "Window": "drivers.simulator.engine",
    "make_model": "drivers.simulator.engine",
    "parse_window": "drivers.simulator.engine",
    "replay_capture": "drivers.simulator.engine",
}

__all__ = [
    "DeviceModel",
    "Endpoint",
    "Faults",
    "PathEndpoint",
    "PtyEndpoint",
    "Simulator",
    "SocketEndpoint",
    "VitalState",
    "Window",
    "make_model",
    "open_endpoint",
    "parse_window",
    "replay_capture",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
