"""Nellcor N-595 (and N-395/NPB-295 style) ASCII trend output: SpO2 and pulse.

Protocol (``shared/docs/protocols.md``: OpenICE spec; NPB-295 manual):

- 9600 8N1. A line every 2 s (NPB-290 style models use XON/XOFF flow control;
  set ``xonxoff`` in the device config), CR LF. Column headings repeat every
  25 lines, after a version line::

      N-595   VERSION 1.1.0.0   CRC:XXXX  SpO2 Limit: 85-100%   PR Limit: 50-170BPM
      TIME                %SpO2   BPM   PA  Status
      07-Apr-05 10:47:20    ---    ---  ---  SD
      07-Apr-05 10:47:22     98     72  210
      07-Apr-05 10:47:24     89*    49* 210  SL PL
      12-NOV-98 14:00:05 100 120 50

- A data line starts with a fixed 18-character time stamp ``DD-MMM-YY HH:MM:SS``
  (month in letters, any case), then SpO2 (%), BPM and PA (pulse amplitude)
  columns separated by spaces, then optional two-letter status codes. A
  trailing ``*`` on a value marks it as outside its alarm limit; ``---`` means
  no value.
- Status codes: AO alarm off, AS alarm silenced, LB low battery, LM loss of
  pulse with motion, LP loss of pulse, MO motion, PH/PL pulse rate high/low,
  PS pulse search, SH/SL saturation high/low, SD sensor disconnect, SO sensor off.

Decoding:
- ``spo2`` and ``pulse`` with the frame's time (the monitor clock, taken as UTC
  unless the option ``utc_offset_h`` says otherwise). PA is not emitted (no
  signal in the vocabulary; it is not the perfusion index).
- Flags from status codes: SD -> ``no_sensor``, SO -> ``sensor_off``, MO ->
  ``artifact``, LM -> ``artifact`` and ``searching``, LP/PS -> ``searching``.
  Alarm-limit codes (SH, SL, PH, PL) and ``*`` are the monitor's own alarms:
  they add no flag (capleak evaluates limits itself).
- Heading, version and blank lines are valid and ignored (``ignored``). A line
  that starts with a time stamp but is otherwise malformed, or an unknown
  status code, is rejected whole (``malformed``). Garbage glued in front of
  a time stamp is skipped.

Simulator (:class:`NellcorModel`): a data line every 2 s, headings every 25
lines; flags become status codes (SD, SO, MO, PS).

Assumptions:
- Two-digit years are 2000-2099.
- SpO2 0-100 and BPM 0-400 are plausible; other numbers are malformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.base import DriverSpec
from drivers.framing import LineDecoder
from drivers.model import Model, VitalState, clamp, round_half_up
from edge.vocabulary import Flag, Reading

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_STAMP = re.compile(r"^(\d\d)-([A-Za-z]{3})-(\d\d) (\d\d):(\d\d):(\d\d)")
_STAMP_ANYWHERE = re.compile(_STAMP.pattern[1:])
_VALUE = re.compile(r"^(?:(\d{1,3})|-{2,3})\*?$")

STATUS_FLAGS: Mapping[str, tuple[str, ...]] = {
    "AO": (),
    "AS": (),
    "LB": (),
    "LM": (Flag.ARTIFACT.value, Flag.SEARCHING.value),
    "LP": (Flag.SEARCHING.value,),
    "MO": (Flag.ARTIFACT.value,),
    "PH": (),
    "PL": (),
    "PS": (Flag.SEARCHING.value,),
    "SH": (),
    "SL": (),
    "SD": (Flag.NO_SENSOR.value,),
    "SO": (Flag.SENSOR_OFF.value,),
}


class NellcorDecoder(LineDecoder):
    """Incremental N-595 line decoder; see the module docstring."""

    max_len = 256

    def __init__(self, source: str = "nellcor-n595", options: Mapping[str, Any] | None = None):
        super().__init__(source)
        opts = options or {}
        self._offset = timedelta(hours=float(opts.get("utc_offset_h", 0.0)))

    def decode_line(self, line: bytes, now: float | None = None) -> list[Reading]:
        # Non-ASCII bytes become U+FFFD, which no value or status code matches.
        text = line.decode("ascii", errors="replace").strip()
        m = _STAMP.match(text)
        if m is None:
            m = _STAMP_ANYWHERE.search(text)  # garbage glued in front of a data line
            if m is None:
                self.ignored["heading"] += 1
                return []
            text = text[m.start() :]
            m = _STAMP.match(text)
            assert m is not None
        day, mon, yy, hh, mm, ss = m.groups()
        try:
            month = MONTHS.index(mon.upper()) + 1
            stamp = datetime(2000 + int(yy), month, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
        except ValueError:
            self.rejected["malformed"] += 1
            return []
        cols = text[m.end() :].split()
        if len(cols) < 3:
            self.rejected["malformed"] += 1
            return []
        values = []
        for raw, hi in zip(cols[:3], (100, 400, 999), strict=True):
            vm = _VALUE.match(raw)
            if vm is None or (vm.group(1) is not None and int(vm.group(1)) > hi):
                self.rejected["malformed"] += 1
                return []
            values.append(None if vm.group(1) is None else float(vm.group(1)))
        flags: set[str] = set()
        for code in cols[3:]:
            if code not in STATUS_FLAGS:
                self.rejected["malformed"] += 1
                return []
            flags.update(STATUS_FLAGS[code])
        t = (stamp - self._offset).timestamp()
        out = []
        for signal, value in zip(("spo2", "pulse"), values[:2], strict=True):
            if value is not None:
                out.append(Reading.of(signal, value, time=t, source=self.source, flags=flags))
        return out


@dataclass(frozen=True, slots=True)
class NellcorLine:
    """One N-595 data line; ``None`` = dashes."""

    time: float
    spo2: int | None
    pulse: int | None
    pa: int | None = None
    status: tuple[str, ...] = ()
    alarm: bool = False


def _col(v: int | None, alarm: bool) -> str:
    return "---" if v is None else f"{v:d}{'*' if alarm else ''}"


def encode(line: NellcorLine) -> bytes:
    """One data line, CR LF terminated.

    >>> encode(NellcorLine(1112870842.0, 98, 72, 210))
    b'07-Apr-05 10:47:22     98     72  210\\r\\n'
    """
    when = datetime.fromtimestamp(line.time, tz=UTC)
    stamp = f"{when.day:02d}-{MONTHS[when.month - 1].title()}-{when:%y %H:%M:%S}"
    cols = (
        f"{_col(line.spo2, line.alarm):>7s}{_col(line.pulse, line.alarm):>7s}"
        f"{_col(line.pa, False):>5s}"
    )
    status = "  " + " ".join(line.status) if line.status else ""
    return f"{stamp}{cols}{status}\r\n".encode("ascii")


def encode_heading(model: str = "N-595") -> bytes:
    return (
        f"{model}   VERSION 1.1.0.0   CRC:0000  SpO2 Limit: 85-100%   PR Limit: 50-170BPM\r\n"
        "TIME                %SpO2   BPM   PA  Status\r\n"
    ).encode("ascii")


def status_for(flags: Iterable[str]) -> tuple[str, ...]:
    """Status codes that decode to ``flags`` (for the simulator)."""
    fs = set(flags)
    codes = []
    if Flag.NO_SENSOR in fs:
        codes.append("SD")
    if Flag.SENSOR_OFF in fs:
        codes.append("SO")
    if Flag.ARTIFACT in fs:
        codes.append("MO")
    if Flag.SEARCHING in fs:
        codes.append("PS")
    return tuple(codes)


class NellcorModel(Model):
    """An N-595: a data line every 2 s, the headings every 25 lines."""

    period_s = 2.0
    signals = frozenset({"spo2", "pulse"})

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self._lines = 0

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        out = [encode_heading()] if self._lines % 25 == 0 else []
        self._lines += 1
        spo2 = round_half_up(state.get("spo2"))
        line = NellcorLine(
            time=math.floor(t),
            spo2=clamp(spo2, 0, 100),
            pulse=clamp(round_half_up(state.get("pulse")), 0, 400),
            pa=None if spo2 is None else 120,
            status=status_for(state.all_flags("spo2", "pulse")),
        )
        return [*out, encode(line)]


DRIVER = DriverSpec(
    name="nellcor-n595",
    description="Nellcor N-595 / NPB-295 ASCII trend lines (SpO2, pulse), 9600 8N1, every 2 s",
    decoder=lambda source, options: NellcorDecoder(source, options),
    signals=("spo2", "pulse"),
    sample_frame=b"07-Apr-05 10:47:22     98     72  210\r\n",
    model=NellcorModel,
    baudrate=9600,
    max_quiet_s=5.0,  # OpenICE: 2.2 s; lines come every 2 s, so allow two missed lines
)
