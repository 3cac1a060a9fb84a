"""A&D weighing scales (EK, GC, GF, AD-4329A and others): standard output format.

Protocol (``shared/docs/protocols.md``):

- One line per weighing (or continuously in stream mode), CR LF::

      ST,+00123.45  g
      ST,G ,+01234.5kg
      ST,GS,+  4.876kg
      US,+00072.40 kg
      OL,+9999999E+19

- Header: ``ST`` stable, ``US`` unstable (in motion), ``OL`` overload,
  ``QT`` count (pieces, not a weight).
- An optional two-character data-type field follows the header (``GS``
  gross, ``NT`` net, ``G `` and others): it is accepted and ignored, except
  ``TR`` (tare): ``ST,TR,+0002345kg`` is the tare weight the scale subtracts
  (a container, a bed frame), not what is on it.
- The value has a sign, may be zero- or space-padded, and is followed by the
  unit, right-aligned in three characters: ``  g``, ``kg``, `` lb``; in
  percent mode ``  %`` (``ST,+000123.4  %``: the load as a percentage of a
  stored reference mass, not a mass).

Decoding:
- ``weight`` in kg: g / 1000, lb x 0.45359237 (exact decimal arithmetic, then
  rounded to 6 decimals, i.e. milligram resolution).
- ``US`` sets the ``unstable`` flag. ``OL``, ``QT``, a ``TR`` (tare) print
  and a percent-mode print are valid frames that yield no reading (counted in
  ``ignored`` as ``overload``, ``count``, ``tare``, ``percent``; not in
  ``rejected``, so a scale left in percent mode is never taken for garbage).
- Anything else (an unknown header, a unit that is not g/kg/lb, a value that is
  not a number) is rejected whole (``malformed``).

Simulator (:class:`AdScaleModel`): prints one line per scenario ``weight``
reading (``US`` when it carries ``unstable``).

Assumptions:
- 2400 8E1 is a common factory default on A&D balances, 9600 8N1 on others:
  the driver default is 9600 8N1; set ``baudrate``/``parity`` per device.
- Scales print on demand (print key / auto-print on a stable weighing), so
  silence is normal: the driver has no maximum quiet time (the transport still
  reports a port that disappears). Set ``max_quiet_s`` when the scale streams.
- Negative weights (tare) are emitted as read: the core judges plausibility.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from drivers.base import DriverSpec
from drivers.framing import LineDecoder
from drivers.model import Model, VitalState
from edge.vocabulary import Flag, Reading

_LINE = re.compile(r"^(ST|US|OL|QT),(?:([A-Z ]{2}),)?([+-][ 0-9.E+-]*?)\s*([A-Za-z]{0,3}|%)$")
TO_KG: Mapping[str, Decimal] = {
    "g": Decimal("0.001"),
    "kg": Decimal(1),
    "lb": Decimal("0.45359237"),
}


class AdScaleDecoder(LineDecoder):
    """Incremental A&D line decoder; see the module docstring."""

    max_len = 64

    def __init__(self, source: str = "ad-scale", options: Mapping[str, Any] | None = None):
        super().__init__(source)

    def decode_line(self, line: bytes, now: float | None = None) -> list[Reading]:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.rejected["malformed"] += 1
            return []
        m = _LINE.match(text)
        if m is None:
            self.rejected["malformed"] += 1
            return []
        header, kind, raw, unit = m.groups()
        if header in ("OL", "QT"):
            self.ignored["overload" if header == "OL" else "count"] += 1
            return []
        number = raw.replace(" ", "")
        if not re.fullmatch(r"[+-]\d*\.?\d+|[+-]\d+\.", number):
            self.rejected["malformed"] += 1
            return []
        if kind == "TR" or unit == "%":  # a tare print; a percent-mode print: no mass
            self.ignored["tare" if kind == "TR" else "percent"] += 1
            return []
        factor = TO_KG.get(unit)
        if factor is None:
            self.rejected["malformed"] += 1
            return []
        try:
            kg = Decimal(number) * factor
        except InvalidOperation:
            self.rejected["malformed"] += 1
            return []
        flags = (Flag.UNSTABLE.value,) if header == "US" else ()
        return [
            Reading.of("weight", round(float(kg), 6), time=now, source=self.source, flags=flags)
        ]


@dataclass(frozen=True, slots=True)
class ScaleLine:
    """One A&D output line. ``unit`` g, kg or lb; ``decimals`` as the scale shows them."""

    weight_kg: float
    stable: bool = True
    unit: str = "kg"
    decimals: int = 2
    data_type: str | None = None
    overload: bool = False


def encode(line: ScaleLine) -> bytes:
    """One line in the A&D standard format (8 characters of value, 3 of unit).

    >>> encode(ScaleLine(72.4))
    b'ST,+00072.40 kg\\r\\n'
    >>> encode(ScaleLine(0.12345, unit="g"))
    b'ST,+00123.45  g\\r\\n'
    """
    if line.overload:
        return b"OL,+9999999E+19\r\n"
    value = Decimal(repr(line.weight_kg)) / TO_KG[line.unit]
    text = f"{abs(value):0{8 if line.decimals else 7}.{line.decimals}f}"
    sign = "-" if value < 0 else "+"
    kind = f"{line.data_type:2.2s}," if line.data_type else ""
    head = "ST" if line.stable else "US"
    return f"{head},{kind}{sign}{text}{line.unit:>3s}\r\n".encode("ascii")


class AdScaleModel(Model):
    """An A&D scale printing each weighing of the scenario, in kg with two decimals."""

    signals = frozenset({"weight"})

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        if r.signal != "weight" or state.sensor_off:
            return []
        line = ScaleLine(
            round(r.value, 2), stable=Flag.UNSTABLE not in r.flags, unit="kg", decimals=2
        )
        return [encode(line)]


DRIVER = DriverSpec(
    name="ad-scale",
    description="A&D scales, standard format (ST/US/OL/QT, g/kg/lb -> kg), 9600 8N1",
    decoder=lambda source, options: AdScaleDecoder(source, options),
    signals=("weight",),
    sample_frame=b"ST,GS,+  4.876kg\r\n",  # an example line above
    model=AdScaleModel,
    baudrate=9600,
    max_quiet_s=None,
)
