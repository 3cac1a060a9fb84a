"""Nonin data format #1 (SpO2, pulse): 3 bytes per second, no checksum.

Protocol (``shared/docs/protocols.md``; reconstructed from open implementations,
verify against Nonin's specification before clinical use):

- 9600 8N1, one 3-byte frame per second: ``STATUS, HR, SpO2``.
- STATUS has bit 7 set (the sync: both data bytes have bit 7 clear). Bits:
  0x40 sensor disconnected, 0x20 out of track, 0x10 low perfusion, 0x08
  marginal perfusion, 0x04 bad pulse, bits 1-0 = HR bits 8-7.
- ``HR = ((STATUS & 0x03) << 7) | HR byte``. HR 511 and SpO2 127 = missing.

Example frames (SpO2 97 %, HR 72; then HR 300 with the sensor disconnected
and SpO2 missing)::

    80 48 61
    C2 2C 7F

Decoding:
- A frame is a byte with bit 7 set followed by two bytes with bit 7 clear.
  A byte with bit 7 set where a data byte should be restarts the frame there
  (counted ``sync``); other stray bytes are skipped (``sync``, once per run).
- Flags: 0x40 -> ``sensor_off``, 0x20 -> ``searching``, 0x10 ->
  ``low_perfusion``, 0x08 -> ``low_quality`` (marginal perfusion), 0x04 ->
  ``artifact`` (bad pulse). ``time=now`` (the format has no time).
- SpO2 above 100 (other than 127) is malformed.

Simulator (:class:`NoninDf1Model`): one frame per second.

Assumption: there is no checksum, so a bit flip inside a data byte cannot be
detected (only bit 7 flips are). Prefer format #2 or #7 where the device offers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from drivers.base import DriverSpec
from drivers.model import Model, VitalState, clamp, round_half_up
from drivers.nonin_df2 import HR_MISSING, SPO2_MISSING, NoninSample
from edge.vocabulary import Flag, Reading

_FLAG_BITS: tuple[tuple[int, str], ...] = (
    (0x40, Flag.SENSOR_OFF.value),
    (0x20, Flag.SEARCHING.value),
    (0x10, Flag.LOW_PERFUSION.value),
    (0x08, Flag.LOW_QUALITY.value),
    (0x04, Flag.ARTIFACT.value),
)


def status_flags(status: int) -> frozenset[str]:
    """Flags for a format #1 STATUS byte.

    >>> sorted(status_flags(0xC2))
    ['sensor_off']
    """
    return frozenset(flag for bit, flag in _FLAG_BITS if status & bit)


def flags_status(flags: Iterable[str]) -> int:
    fs = set(flags)
    if Flag.NO_SENSOR in fs:
        fs.add(Flag.SENSOR_OFF.value)
    return sum(bit for bit, flag in _FLAG_BITS if flag in fs)


class NoninDf1Decoder:
    """Incremental format #1 decoder; see the module docstring."""

    def __init__(self, source: str = "nonin-df1", options: Mapping[str, Any] | None = None):
        self.source = source
        self.rejected: Counter[str] = Counter()
        #: Frames decoded, with or without a value (no checksum: garbage can pass).
        self.frames = 0
        self._frame = bytearray()
        self._skipping = False

    def reset(self) -> None:
        self._frame.clear()
        self._skipping = False

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        frame = self._frame
        for b in data:
            if b & 0x80:
                if frame:  # a STATUS where a data byte should be: resync here
                    self.rejected["sync"] += 1
                frame[:] = bytes((b,))
                self._skipping = False
            elif not frame:
                if not self._skipping:
                    self.rejected["sync"] += 1
                    self._skipping = True
            else:
                frame.append(b)
                if len(frame) == 3:
                    out.extend(self._decode(frame[0], frame[1], frame[2], now))
                    frame.clear()
        return out

    def _decode(self, status: int, hr_low: int, spo2: int, now: float | None) -> list[Reading]:
        hr = ((status & 0x03) << 7) | hr_low
        if spo2 > 100 and spo2 != SPO2_MISSING:
            self.rejected["malformed"] += 1
            return []
        self.frames += 1
        flags = status_flags(status)
        out = []
        if spo2 != SPO2_MISSING:
            out.append(Reading.of("spo2", spo2, time=now, source=self.source, flags=flags))
        if hr != HR_MISSING:
            out.append(Reading.of("pulse", hr, time=now, source=self.source, flags=flags))
        return out


def encode(sample: NoninSample) -> bytes:
    """One 3-byte frame.

    >>> encode(NoninSample(97, 72)).hex(" "), encode(NoninSample(None, 300, frozenset({"sensor_off"}))).hex(" ")
    ('80 48 61', 'c2 2c 7f')
    """
    hr = HR_MISSING if sample.pulse is None else int(sample.pulse)
    spo2 = SPO2_MISSING if sample.spo2 is None else int(sample.spo2)
    status = 0x80 | flags_status(sample.flags) | ((hr >> 7) & 0x03)
    return bytes((status, hr & 0x7F, spo2 & 0x7F))


class NoninDf1Model(Model):
    """A Nonin in format #1: one 3-byte frame per second."""

    period_s = 1.0
    signals = frozenset({"spo2", "pulse"})

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        sample = NoninSample(
            clamp(round_half_up(state.get("spo2")), 0, 100),
            clamp(round_half_up(state.get("pulse")), 0, 400),
            state.all_flags("spo2", "pulse"),
        )
        return [encode(sample)]


DRIVER = DriverSpec(
    name="nonin-df1",
    description="Nonin data format #1 (SpO2, pulse), 9600 8N1, 3 bytes per second",
    decoder=lambda source, options: NoninDf1Decoder(source, options),
    signals=("spo2", "pulse"),
    sample_frame=bytes.fromhex("80 48 61"),  # the first example frame above
    model=NoninDf1Model,
    baudrate=9600,
    max_quiet_s=3.0,  # OpenICE drops a silent Nonin after 3 s (protocols.md)
)
