"""Datascope Accutorr-style NIBP poll (blood pressure; SpO2 and pulse when fitted).

Protocol (``shared/docs/protocols.md``; Accutorr 3 manual):

- The host sends ``P`` then CR (``50 0D``) on a configurable interval; the
  monitor answers one line::

      P:--,85,120, 45, 80,000,010,000, 5

  = SaO2, PR, systolic, mean, diastolic, three status fields, minutes since
  the last NIBP measurement. ``--`` = not available. Fields may be
  space-padded. The line ends with CR (CR LF and LF are accepted too).
- The same NIBP result is repeated on every poll until a new measurement. A
  new measurement is when the minutes field goes down or the pressures change.

Decoding:
- ``sbp``/``map``/``dbp`` (mm[Hg]) are emitted **once per new measurement**,
  never once per poll, stamped ``now - minutes * 60`` (the measurement time).
  Offline (``now=None``) they carry no time. The first answer after start-up is
  a new measurement (the decoder has no memory of earlier ones; after a
  reconnect the transport keeps the same decoder, so nothing is repeated).
- ``spo2``/``pulse`` from the SaO2/PR fields are emitted on every answer that
  has them (they are live values), stamped ``now``. Option ``spo2 = false``
  turns them off (a monitor without an oximeter, or one read by another driver).
- A line that is not ``P:`` plus nine comma-separated fields, or a field that
  is neither a number nor dashes, is rejected whole (``malformed``).

Simulator (:class:`AccutorrModel`): answers each ``P`` poll; a scenario
``sbp`` reading is a new NIBP measurement, and the minutes field counts from
its time. SaO2/PR are ``--`` unless the model option ``spo2`` is set
(``--option spo2=1``).

Assumptions:
- 9600 8N1 (the manual's default for the host port; configurable per device).
- The meaning of the three status fields is not public here: they are checked
  to be numbers or dashes and otherwise ignored (no flags are derived).
- A pressure triple with one or two fields missing emits the available ones.
- Plausibility: pressures 0-300 mm[Hg], minutes 0-9999, SaO2 0-100, PR 0-400.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.base import DriverSpec
from drivers.framing import LineFramer
from drivers.model import Model, VitalState, round_half_up
from edge.vocabulary import Reading

POLL = b"P\r"
_NUM = re.compile(r"^\d{1,4}$")
_DASH = re.compile(r"^-+$")
_RANGES = ((0, 100), (0, 400), (0, 300), (0, 300), (0, 300), None, None, None, (0, 9999))


def _field(raw: str, rng: tuple[int, int] | None) -> int | str | None:
    """An int, ``None`` for dashes, or ``"bad"``."""
    text = raw.strip()
    if _DASH.match(text):
        return None
    if not _NUM.match(text):
        return "bad"
    value = int(text)
    if rng is not None and not rng[0] <= value <= rng[1]:
        return "bad"
    return value


@dataclass(frozen=True, slots=True)
class AccutorrAnswer:
    """One answer to a poll; ``None`` = dashes. ``minutes`` since the last NIBP."""

    spo2: int | None
    pulse: int | None
    sbp: int | None
    map: int | None
    dbp: int | None
    minutes: int | None
    status: tuple[int, int, int] = (0, 10, 0)


def parse_answer(line: bytes) -> AccutorrAnswer | None:
    """The fields of one answer line, or ``None`` when it is malformed.

    >>> parse_answer(b"P:--,85,120, 45, 80,000,010,000, 5")
    AccutorrAnswer(spo2=None, pulse=85, sbp=120, map=45, dbp=80, minutes=5, status=(0, 10, 0))
    """
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text.startswith("P:"):
        return None
    parts = text[2:].split(",")
    if len(parts) != 9:
        return None
    fields = [_field(p, r) for p, r in zip(parts, _RANGES, strict=True)]
    vals = [v for v in fields if not isinstance(v, str)]
    if len(vals) != len(fields):  # a field was "bad"
        return None
    s1, s2, s3 = (0 if v is None else v for v in vals[5:8])
    spo2, pulse, sbp, mean, dbp = vals[:5]
    return AccutorrAnswer(spo2, pulse, sbp, mean, dbp, minutes=vals[8], status=(s1, s2, s3))


class AccutorrDecoder:
    """Incremental decoder of poll answers; see the module docstring."""

    def __init__(self, source: str = "accutorr", options: Mapping[str, Any] | None = None):
        self.source = source
        opts = options or {}
        self.emit_spo2 = bool(opts.get("spo2", True))
        self._framer = LineFramer(max_len=128)
        self.rejected: Counter[str] = self._framer.rejected
        #: Valid answers decoded, with or without a value.
        self.frames = 0
        self._last: tuple[int | None, ...] | None = None  # (sbp, map, dbp)
        self._last_minutes: int | None = None

    def reset(self) -> None:
        self._framer.reset()  # the last measurement is kept: no repeat after a reconnect

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        for line in self._framer.feed(data):
            answer = parse_answer(line)
            if answer is None:
                self.rejected["malformed"] += 1
                continue
            self.frames += 1
            out.extend(self.decode_answer(answer, now))
        return out

    def decode_answer(self, a: AccutorrAnswer, now: float | None) -> list[Reading]:
        out: list[Reading] = []
        if self.emit_spo2:
            for signal, value in (("spo2", a.spo2), ("pulse", a.pulse)):
                if value is not None:
                    out.append(Reading.of(signal, value, time=now, source=self.source))
        pressures = (a.sbp, a.map, a.dbp)
        if all(p is None for p in pressures):
            return out
        new = (
            self._last is None
            or pressures != self._last
            or (
                a.minutes is not None
                and self._last_minutes is not None
                and a.minutes < self._last_minutes
            )
        )
        self._last, self._last_minutes = pressures, a.minutes
        if not new:
            return out
        when = None if now is None else now - 60.0 * (a.minutes or 0)
        for signal, value in zip(("sbp", "map", "dbp"), pressures, strict=True):
            if value is not None:
                out.append(Reading.of(signal, value, time=when, source=self.source))
        return out


def _fmt(value: int | None, width: int) -> str:
    return "-" * min(width, 2) if value is None else f"{value:>{width}d}"


def encode(answer: AccutorrAnswer) -> bytes:
    """One answer line, CR terminated, padded like the manual's example.

    >>> encode(AccutorrAnswer(None, 85, 120, 45, 80, 5))
    b'P:--,85,120, 45, 80,000,010,000, 5\\r'
    """
    s1, s2, s3 = answer.status
    return (
        f"P:{_fmt(answer.spo2, 2)},{_fmt(answer.pulse, 2)},{_fmt(answer.sbp, 3)},"
        f"{_fmt(answer.map, 3)},{_fmt(answer.dbp, 3)},{s1:03d},{s2:03d},{s3:03d},"
        f"{_fmt(answer.minutes, 2)}\r"
    ).encode("ascii")


class AccutorrModel(Model):
    """An Accutorr answering ``P`` polls with the last NIBP measurement of the scenario."""

    signals = frozenset({"sbp", "map", "dbp", "spo2", "pulse"})

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self.with_spo2 = self.options.get("spo2", "0") not in ("0", "false", "no", "")
        self.nibp: tuple[float, int | None, int | None, int | None] | None = None

    def on_reading(self, state: VitalState, r: Reading, t: float) -> list[bytes]:
        if r.signal in ("sbp", "map", "dbp") and not state.sensor_off and r.time is not None:
            old = self.nibp if self.nibp is not None and self.nibp[0] == r.time else None
            vals: list[int | None] = list(old[1:]) if old else [None, None, None]
            vals[("sbp", "map", "dbp").index(r.signal)] = round_half_up(r.value)
            self.nibp = (r.time, vals[0], vals[1], vals[2])
        return []

    def answer(self, request: bytes, state: VitalState, t: float) -> list[bytes]:
        if not request.strip().upper().startswith(b"P"):
            return []
        spo2 = round_half_up(state.get("spo2")) if self.with_spo2 else None
        pulse = round_half_up(state.get("pulse")) if self.with_spo2 else None
        if self.nibp is None:
            a = AccutorrAnswer(spo2, pulse, None, None, None, None, (0, 0, 0))
        else:
            when, sbp, mean, dbp = self.nibp
            minutes = max(0, int((t - when) // 60))
            a = AccutorrAnswer(spo2, pulse, sbp, mean, dbp, min(minutes, 9999))
        return [encode(a)]


DRIVER = DriverSpec(
    name="accutorr",
    description="Datascope Accutorr-style NIBP poll (P<CR>): sbp/map/dbp once per "
    "measurement, SpO2/pulse when fitted; 9600 8N1",
    decoder=lambda source, options: AccutorrDecoder(source, options),
    signals=("sbp", "map", "dbp", "spo2", "pulse"),
    sample_frame=b"P:--,85,120, 45, 80,000,010,000, 5\r",  # the manual's example answer
    model=AccutorrModel,
    baudrate=9600,
    poll_command=POLL,
    poll_interval_s=10.0,
    # Three missed answers; the transport raises this to 2.5 x a longer poll interval.
    max_quiet_s=30.0,
)
