"""Mettler Toledo MT-SICS level 0 weight poll (``S``): stable weight of a scale.

Protocol (``shared/docs/protocols.md``):

- The host sends ``S`` (send stable weight) + CR LF; the balance answers::

      S S      72.45 kg      stable weight
      S D      72.40 kg      dynamic (in motion): emitted with ``unstable``
      S I                    busy / no stable value yet: no reading
      S +                    overload: no reading
      S -                    underload: no reading

  and an error ``ES``/``ET``/``EL`` (syntax, transmission, logical error) when
  it did not understand the command: no reading.
- Fields are separated by one or more spaces; the value is right-aligned in a
  10-character field; units kg, g, lb (converted to kg like the A&D driver).

Decoding:
- ``weight`` (kg), ``time=now``; ``S D`` sets ``unstable``.
- ``S I``/``S +``/``S -`` and ``E*`` answers are valid and yield no reading
  (counted in ``ignored``). Anything else is ``malformed``.

Simulator (:class:`MtSicsModel`): answers each ``S``/``SI`` poll with the
latest weight (``S I`` before the first one or while the sensor is off).

Assumptions:
- 9600 8N1 (MT-SICS factory default on most balances; configurable).
- The driver polls ``S`` every 5 s by default. ``S`` waits for a stable weight
  (the balance may answer ``S I`` after its own timeout), so a patient moving
  on a bed scale gives few readings rather than wrong ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from drivers.ad_scale import TO_KG
from drivers.base import DriverSpec
from drivers.framing import LineDecoder
from drivers.model import Model, VitalState
from edge.vocabulary import Flag, Reading

POLL = b"S\r\n"
_WEIGHT = re.compile(r"^S +([SD]) +(-?\d*\.?\d+) +(kg|g|lb)$")
_NO_VALUE = re.compile(r"^(S +[I+-]|E[STL])$")


class MtSicsDecoder(LineDecoder):
    """Incremental MT-SICS answer decoder; see the module docstring."""

    max_len = 64

    def __init__(self, source: str = "mt-sics", options: Mapping[str, Any] | None = None):
        super().__init__(source)

    def decode_line(self, line: bytes, now: float | None = None) -> list[Reading]:
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            self.rejected["malformed"] += 1
            return []
        m = _WEIGHT.match(text)
        if m is None:
            if _NO_VALUE.match(text):
                self.ignored[text.replace(" ", "")] += 1
            else:
                self.rejected["malformed"] += 1
            return []
        status, number, unit = m.groups()
        try:
            kg = Decimal(number) * TO_KG[unit]
        except InvalidOperation:
            self.rejected["malformed"] += 1
            return []
        flags = (Flag.UNSTABLE.value,) if status == "D" else ()
        return [
            Reading.of("weight", round(float(kg), 6), time=now, source=self.source, flags=flags)
        ]


@dataclass(frozen=True, slots=True)
class SicsAnswer:
    """One answer to ``S``: ``status`` S (stable), D (dynamic), I, + or -."""

    status: str
    weight_kg: float | None = None
    unit: str = "kg"
    decimals: int = 2


def encode(answer: SicsAnswer) -> bytes:
    """One answer line, CR LF terminated.

    >>> encode(SicsAnswer("S", 72.45))
    b'S S      72.45 kg\\r\\n'
    >>> encode(SicsAnswer("I"))
    b'S I\\r\\n'
    """
    if answer.status not in ("S", "D") or answer.weight_kg is None:
        return f"S {answer.status}\r\n".encode("ascii")
    value = Decimal(repr(answer.weight_kg)) / TO_KG[answer.unit]
    return f"S {answer.status} {value:>10.{answer.decimals}f} {answer.unit}\r\n".encode("ascii")


class MtSicsModel(Model):
    """A Mettler Toledo balance answering ``S``/``SI`` with the scenario's latest weight."""

    signals = frozenset({"weight"})

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        cmd = request.strip().upper()
        if cmd not in (b"S", b"SI"):
            return [b"ES\r\n"] if cmd else []
        weight = state.get("weight")
        if weight is None:
            return [encode(SicsAnswer("I"))]
        status = "D" if Flag.UNSTABLE in state.flags.get("weight", ()) else "S"
        return [encode(SicsAnswer(status, round(weight, 2)))]


DRIVER = DriverSpec(
    name="mt-sics",
    description="Mettler Toledo MT-SICS stable-weight poll (S<CR><LF>), 9600 8N1",
    decoder=lambda source, options: MtSicsDecoder(source, options),
    signals=("weight",),
    sample_frame=b"S S      72.45 kg\r\n",  # the stable-weight answer above
    model=MtSicsModel,
    baudrate=9600,
    poll_command=POLL,
    poll_interval_s=5.0,
    max_quiet_s=15.0,
)
