"""Masimo Radical-7 / Rad-97 / Rad-8 / Root "ASCII 1" serial output (SpO2, pulse, PI).

Protocol (``shared/docs/protocols.md``; sources: MD PnP ``poxrad_discrete.h``,
remkolems/masimo-datacapture, OpenICE ``masimo-radical-7.spec``):

- RS-232, 9600 8N1 (Root with NIBP: 19200). One line per second, CR LF
  (the manual says LF CR; both, and either alone, are accepted).
- ``MM/DD/YY HH:MM:SS`` then space-separated ``KEY=VALUE`` fields. Keys and
  their order vary by model and firmware: fields are parsed **by key, never by
  position**; unknown keys are ignored.
- Values are zero-padded and may carry a ``%`` suffix. Dashes (``---``,
  ``--.-``, ``---%``) mean "no reading": nothing is emitted for that field.
- ``EXC`` is hexadecimal exception bits, mapped to flags by :data:`EXC_FLAGS`.
  0x000800 ("Masimo SET") is informational and maps to nothing.

Example frames (as published)::

    12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% SPMET=00.5% DESAT=01 PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820
    09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800
    03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001

Emitted signals: ``spo2`` (%), ``pulse`` (/min) from ``BPM``, ``pi`` (%) from ``PI``.

Simulator (:class:`MasimoModel`): one line per second with the latest SpO2,
pulse and PI (dashes for signals the scenario does not have); flags become EXC
bits.

Assumptions:
- The monitor's clock is taken as UTC unless the option ``utc_offset_h`` says
  otherwise (set the monitor to UTC, or configure its offset). The frame time
  becomes the reading time.
- A line without a valid date-time, or with a malformed value for one of the
  keys we read, is rejected whole (counted as ``malformed``): a frame we
  cannot fully trust yields no reading. Non-ASCII bytes, a token without
  ``=``, a key given twice with different values, or an ``EXC`` that is not
  1-8 hex digits make a line malformed too.
- Resynchronisation: garbage glued in front of a line (a partial line after
  plugging in mid-transmission) is skipped up to the first date-time that is
  followed by ``KEY=VALUE`` fields; the line is then decoded from there.
  Garbage without a terminator longer than 512 bytes is dropped (``overlong``).
- There is no checksum: a bit flip inside a digit cannot be detected. Range
  checks below catch some; the core's plausibility and artifact rules do the
  rest.
- Plausibility: SpO2 0-100, BPM 0-400, PI 0-30; values outside are rejected
  as malformed (the core applies clinical plausibility later).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.base import DriverSpec
from drivers.framing import LineDecoder
from drivers.model import Model, VitalState, round_half_up
from edge.vocabulary import Flag, Reading

#: EXC bit -> flag (bits from MD PnP ``poxrad_discrete.h``, protocols.md).
EXC_FLAGS: Mapping[int, str] = {
    0x000001: Flag.NO_SENSOR,
    0x000002: Flag.NO_SENSOR,  # defective sensor
    0x000004: Flag.LOW_PERFUSION,
    0x000008: Flag.SEARCHING,
    0x000010: Flag.ARTIFACT,  # interference
    0x000020: Flag.SENSOR_OFF,
    0x000040: Flag.ARTIFACT,  # ambient light
    0x000080: Flag.NO_SENSOR,  # unrecognized sensor
    0x000100: Flag.NO_SENSOR,  # incompatible sensor
    0x000400: Flag.LOW_QUALITY,  # low signal IQ
    0x001000: Flag.NO_SENSOR,  # no cable
    0x002000: Flag.NO_SENSOR,  # cable life expired
    0x004000: Flag.NO_SENSOR,  # incompatible cable
    0x008000: Flag.NO_SENSOR,  # unrecognized cable
    0x010000: Flag.NO_SENSOR,  # defective cable
    0x020000: Flag.SEARCHING,  # sensor calibrating
    0x040000: Flag.NO_SENSOR,  # sensor life expired
    0x080000: Flag.LOW_QUALITY,  # emitter temperature out of range
    0x100000: Flag.LOW_QUALITY,  # sensor current limit
}

#: key -> (signal, lowest, highest plausible device value)
_FIELDS: Mapping[str, tuple[str, float, float]] = {
    "SPO2": ("spo2", 0.0, 100.0),
    "BPM": ("pulse", 0.0, 400.0),
    "PI": ("pi", 0.0, 30.0),
}

_TIME_RE = re.compile(rb"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?: |$)")
_EXC_RE = re.compile(r"^[0-9A-Fa-f]{1,8}$")
_MAX_FIELDS = 64
_NUM_RE = re.compile(r"^[+]?(\d+(?:\.\d+)?)%?$")
_DASH_RE = re.compile(r"^[+-]?-+(?:\.-+)?%?$")


def flags_from_exc(exc: int) -> frozenset[str]:
    """Map an EXC bit field to reading flags.

    >>> sorted(flags_from_exc(0x000821))
    ['no_sensor', 'sensor_off']
    """
    return frozenset(str(flag) for bit, flag in EXC_FLAGS.items() if exc & bit)


class MasimoDecoder(LineDecoder):
    """Incremental ASCII 1 decoder."""

    max_len = 512

    def __init__(self, source: str = "masimo-ascii", options: Mapping[str, Any] | None = None):
        super().__init__(source)
        opts = options or {}
        self._offset = timedelta(hours=float(opts.get("utc_offset_h", 0.0)))

    def decode_line(self, line: bytes, now: float | None = None) -> list[Reading]:
        m = _TIME_RE.match(line) or _TIME_RE.search(line)
        if m is None:
            self.rejected["malformed"] += 1
            return []
        mo, d, y, hh, mm, ss = (int(g) for g in m.groups())
        try:
            stamp = datetime(2000 + y, mo, d, hh, mm, ss, tzinfo=UTC) - self._offset
        except ValueError:
            self.rejected["malformed"] += 1
            return []
        try:
            text = line[m.end() :].decode("ascii")
        except UnicodeDecodeError:
            self.rejected["malformed"] += 1
            return []
        tokens = text.split()
        if not tokens or len(tokens) > _MAX_FIELDS:
            self.rejected["malformed"] += 1
            return []
        fields: dict[str, str] = {}
        for token in tokens:
            key, sep, value = token.partition("=")
            key = key.upper()
            if not sep or not key or fields.get(key, value) != value:
                self.rejected["malformed"] += 1
                return []
            fields[key] = value
        flags: frozenset[str] = frozenset()
        if "EXC" in fields:
            if not _EXC_RE.match(fields["EXC"]):
                self.rejected["malformed"] += 1
                return []
            flags = flags_from_exc(int(fields["EXC"], 16))
        t = stamp.timestamp()
        readings: list[Reading] = []
        for key, (signal, lo, hi) in _FIELDS.items():
            raw = fields.get(key)
            if raw is None or _DASH_RE.match(raw):
                continue
            num = _NUM_RE.match(raw)
            if num is None or not lo <= float(num.group(1)) <= hi:
                self.rejected["malformed"] += 1
                return []
            readings.append(
                Reading.of(signal, float(num.group(1)), time=t, source=self.source, flags=flags)
            )
        return readings


@dataclass(frozen=True, slots=True)
class MasimoSample:
    """One second of Masimo output, for the encoder. ``None`` = dashes."""

    time: float
    spo2: float | None
    pulse: float | None
    pi: float | None = None
    exc: int = 0x000800
    alarm: int = 0


def encode(sample: MasimoSample, serial_number: str = "0000093112") -> bytes:
    """One ASCII 1 line, CR LF terminated, in the Radical-7 field order.

    >>> encode(MasimoSample(0.0, 97, 64, 11.82))
    b'01/01/70 00:00:00 SN=0000093112 SPO2=097% BPM=064 PI=11.82% ALARM=0000 EXC=000800\\r\\n'
    """
    when = datetime.fromtimestamp(sample.time, tz=UTC)
    spo2 = "---" if sample.spo2 is None else f"{round(sample.spo2):03d}"
    bpm = "---" if sample.pulse is None else f"{round(sample.pulse):03d}"
    pi = "--.--" if sample.pi is None else f"{sample.pi:05.2f}"
    return (
        f"{when:%m/%d/%y %H:%M:%S} SN={serial_number} SPO2={spo2}% BPM={bpm} PI={pi}% "
        f"ALARM={sample.alarm:04X} EXC={sample.exc:06X}\r\n"
    ).encode("ascii")


#: flag -> the EXC bit the simulator sets for it (inverse of :data:`EXC_FLAGS`)
_EXC_OF_FLAG: Mapping[str, int] = {
    Flag.NO_SENSOR: 0x000001,
    Flag.LOW_PERFUSION: 0x000004,
    Flag.SEARCHING: 0x000008,
    Flag.ARTIFACT: 0x000010,
    Flag.SENSOR_OFF: 0x000020,
    Flag.LOW_QUALITY: 0x000400,
}


class MasimoModel(Model):
    """A Radical-7: one ASCII 1 line per second with the latest SpO2, pulse and PI."""

    period_s = 1.0
    signals = frozenset({"spo2", "pulse", "pi"})

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        exc = 0x000800
        for flag in state.all_flags("spo2", "pulse", "pi"):
            exc |= _EXC_OF_FLAG.get(flag, 0)
        pi = state.get("pi")
        sample = MasimoSample(
            time=math.floor(t),
            spo2=round_half_up(state.get("spo2")),
            pulse=round_half_up(state.get("pulse")),
            pi=None if pi is None else round(min(max(pi, 0.0), 30.0), 2),
            exc=exc,
        )
        return [encode(sample)]


DRIVER = DriverSpec(
    name="masimo-ascii",
    description="Masimo Radical-7/Rad-97/Root ASCII 1 (SpO2, pulse, PI), 9600 8N1, 1 line/s",
    decoder=lambda source, options: MasimoDecoder(source, options),
    signals=("spo2", "pulse", "pi"),
    sample_frame=b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n",
    model=MasimoModel,
    baudrate=9600,
    max_quiet_s=5.0,
)
