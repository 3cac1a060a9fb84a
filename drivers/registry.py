"""Driver registry: name -> module. Modules are imported only when asked for.

Adding a device touches its module and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from drivers.base import DriverSpec

_MODULES: dict[str, str] = {
    "intellivue": "drivers.intellivue",
    "masimo-ascii": "drivers.masimo_ascii",
    "nonin-df1": "drivers.nonin_df1",
    "nonin-df2": "drivers.nonin_df2",
    "nonin-df7": "drivers.nonin_df7",
    "accutorr": "drivers.accutorr",
    "ad-scale": "drivers.ad_scale",
    "mt-sics": "drivers.mt_sics",
    "nellcor-n595": "drivers.nellcor_n595",
}


def driver_names() -> list[str]:
    return sorted(_MODULES)


def get_driver(name: str) -> DriverSpec:
    """The :class:`DriverSpec` registered under ``name``.

    >>> get_driver("masimo-ascii").baudrate
    9600
    """
    try:
        module = _MODULES[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(driver_names())}") from None
    spec: DriverSpec = importlib.import_module(module).DRIVER
    return spec


def check_options(name: str, device_id: str, options: Mapping[str, Any]) -> None:
    """Build the driver's decoder (and session) once: raises ValueError on bad options."""
    spec = get_driver(name)
    spec.decoder(device_id, dict(options))
    if spec.session is not None:
        spec.session(device_id, dict(options))
