"""Nonin OEM III data format #2 (SpO2, pulse): 5-byte frames, 25-frame packets.

Protocol (``shared/docs/protocols.md``; reconstructed from open implementations:
pez-globo/pufferfish-software, OpenICE ``Packet.java``, Oxford IBME
``NoninPacket``; verify against Nonin's OEM III specification before clinical
use):

- 9600 8N1, 75 frames/s. A frame is 5 bytes::

      0x01, STATUS, PLETH, DATA, CHK      CHK = (0x01 + STATUS + PLETH + DATA) mod 256

- STATUS always has bit 7 set. Bits: 0x40 SNSD sensor disconnect, 0x20 ARTF
  artifact, 0x10 OOT out of track, 0x08 SNSA sensor alarm, 0x04 red perfusion,
  0x02 green perfusion (both = yellow, marginal), 0x01 SYNC (first frame of a
  packet).
- 25 frames make a packet (one per second). DATA means something different in
  each frame, counted from the SYNC frame as 1: 1 HR MSB, 2 HR LSB, 3 SpO2
  (4-beat average: the value reported here), 9 SpO2 display-averaged, 10 SpO2
  fast, 11 SpO2 beat-to-beat; the other frames are not used here.
  ``HR = ((MSB & 0x03) << 7) | (LSB & 0x7F)``. HR 511 and SpO2 127 = missing.

Example packet (SpO2 97 %, HR 72 /min, perfusion green), frames 1-3 then 22
more frames without SYNC::

    01 83 32 00 B6   01 82 33 48 FE   01 82 34 61 18   01 82 35 00 B8 ...

Decoding:
- A frame is accepted only with the 0x01 start byte, STATUS bit 7 and a good
  checksum. Anything else: slide one byte and look for the next valid frame
  (counted once per run of skipped bytes: ``checksum`` when the skipped bytes
  began like a frame, else ``sync``).
- A packet starts at a SYNC frame and yields readings when its 25th frame
  arrives. A packet with any bad or skipped byte inside it, or a SYNC frame
  arriving early (frames lost), yields nothing (``bad_packet`` /
  ``short_packet``). So a corrupted checksummed frame can never produce a
  reading, and the decoder recovers at the next complete packet.

Emitted signals: ``spo2`` (%) from frame 3, ``pulse`` (/min) from frames 1-2,
each with ``time=now`` (the format carries no time). Flags are the OR of the
STATUS bits over the packet's 25 frames: SNSD -> ``sensor_off``, ARTF ->
``artifact``, OOT -> ``searching``, SNSA -> ``low_quality``, red perfusion
(0x04 without 0x02) or yellow (both) -> ``low_perfusion``; green alone is good
perfusion and adds nothing.

Simulator (:class:`NoninModel`): 75 frames/s, one 25-frame packet per second
with a sine pleth; :data:`SAMPLE_PACKET` is the example packet above in full.

Assumptions:
- DATA bit 7 is reserved and ignored (masked with 0x7F).
- SpO2 above 100 or HR above 400 (other than the missing codes) is treated
  as a malformed packet, not a value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.base import DriverSpec
from drivers.model import Model, VitalState, clamp, round_half_up
from edge.vocabulary import Flag, Reading

FRAME_LEN = 5
FRAMES_PER_PACKET = 25
START = 0x01
SNSD, ARTF, OOT, SNSA, RED, GREEN, SYNC = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
HR_MISSING = 511
SPO2_MISSING = 127


def status_flags(status: int) -> frozenset[str]:
    """Flags for an OR of STATUS bytes.

    >>> sorted(status_flags(0x80 | SNSD | RED))
    ['low_perfusion', 'sensor_off']
    """
    flags = set()
    if status & SNSD:
        flags.add(Flag.SENSOR_OFF.value)
    if status & ARTF:
        flags.add(Flag.ARTIFACT.value)
    if status & OOT:
        flags.add(Flag.SEARCHING.value)
    if status & SNSA:
        flags.add(Flag.LOW_QUALITY.value)
    if status & RED:
        flags.add(Flag.LOW_PERFUSION.value)
    return frozenset(flags)


def flags_status(flags: Iterable[str]) -> int:
    """The STATUS bits (without 0x80/SYNC) for reading flags; inverse of :func:`status_flags`."""
    fs = set(flags)
    bits = 0 if Flag.LOW_PERFUSION in fs else GREEN
    for flag, bit in (
        (Flag.SENSOR_OFF, SNSD),
        (Flag.NO_SENSOR, SNSD),
        (Flag.ARTIFACT, ARTF),
        (Flag.SEARCHING, OOT),
        (Flag.LOW_QUALITY, SNSA),
        (Flag.LOW_PERFUSION, RED),
    ):
        if flag in fs:
            bits |= bit
    return bits


def frame(status: int, pleth: int, data: int) -> bytes:
    """One 5-byte frame with its checksum."""
    body = bytes((START, 0x80 | (status & 0x7F), pleth & 0xFF, data & 0xFF))
    return body + bytes((sum(body) & 0xFF,))


class NoninDecoder:
    """Incremental format #2 decoder; see the module docstring.

    ``START_BYTE = None`` gives the format #7 frame (STATUS first, no start byte).
    """

    START_BYTE: int | None = START

    def __init__(self, source: str = "nonin-df2", options: Mapping[str, Any] | None = None):
        self.source = source
        self.rejected: Counter[str] = Counter()
        #: Whole valid packets decoded, with or without a value (not single frames: a
        #: format #7 frame has no start byte, so garbage passes a frame check often).
        self.frames = 0
        self._buf = bytearray()
        self._skipping = False
        self._data: list[int] = []  # DATA bytes of the packet being collected
        self._status = 0
        self._in_packet = False
        self._packet_bad = False

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False
        self._in_packet = False

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        buf = self._buf
        buf += data
        i, n = 0, len(buf)
        framed = self.START_BYTE is not None
        while n - i >= FRAME_LEN:
            b0, b1, b2, b3, ck = buf[i], buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]
            st = b1 if framed else b0
            shaped = st & 0x80 and (b0 == self.START_BYTE or not framed)
            if shaped and (b0 + b1 + b2 + b3) & 0xFF == ck:
                self._skipping = False
                out.extend(self._frame(st, b3, now))
                i += FRAME_LEN
                continue
            if not self._skipping:
                self._skipping = True
                self.rejected["checksum" if shaped else "sync"] += 1
                if self._in_packet:
                    self._packet_bad = True
            i += 1
        del buf[:i]  # fewer than FRAME_LEN bytes stay: memory is bounded
        return out

    def _frame(self, status: int, data: int, now: float | None) -> list[Reading]:
        if status & SYNC:
            if self._in_packet:
                self.rejected["short_packet"] += 1
            self._in_packet, self._packet_bad = True, False
            self._data, self._status = [], 0
        elif not self._in_packet:
            return []  # frames before the first SYNC: wait for a packet start
        self._data.append(data & 0x7F)
        self._status |= status
        if len(self._data) < FRAMES_PER_PACKET:
            return []
        self._in_packet = False
        if self._packet_bad:
            self.rejected["bad_packet"] += 1
            return []
        hr = ((self._data[0] & 0x03) << 7) | (self._data[1] & 0x7F)
        spo2 = self._data[2]
        if (spo2 > 100 and spo2 != SPO2_MISSING) or (hr > 400 and hr != HR_MISSING):
            self.rejected["malformed"] += 1
            return []
        self.frames += 1
        flags = status_flags(self._status)
        out = []
        if spo2 != SPO2_MISSING:
            out.append(Reading.of("spo2", spo2, time=now, source=self.source, flags=flags))
        if hr != HR_MISSING:
            out.append(Reading.of("pulse", hr, time=now, source=self.source, flags=flags))
        return out


@dataclass(frozen=True, slots=True)
class NoninSample:
    """One second (one packet) of Nonin output. ``None`` = missing (127/511)."""

    spo2: int | None
    pulse: int | None
    flags: frozenset[str] = frozenset()


def packet_frames(
    sample: NoninSample, make_frame: Callable[[int, int, int], bytes], waves: list[int]
) -> list[bytes]:
    """The 25 frames of one packet, built by ``make_frame(status, pleth, data)``.

    Shared by every format with the 25-frame packet (#2 here, #7/#13 in
    :mod:`drivers.nonin_df7`): only the frame layout differs.
    """
    hr = HR_MISSING if sample.pulse is None else int(sample.pulse)
    spo2 = SPO2_MISSING if sample.spo2 is None else int(sample.spo2)
    data = [0] * FRAMES_PER_PACKET
    data[0], data[1] = (hr >> 7) & 0x03, hr & 0x7F
    data[2] = data[8] = data[9] = data[10] = spo2
    bits = flags_status(sample.flags)
    return [
        make_frame(bits | (SYNC if k == 0 else 0), waves[k % len(waves)], data[k])
        for k in range(FRAMES_PER_PACKET)
    ]


def encode_frames(sample: NoninSample, pleth: Iterable[int] | None = None) -> list[bytes]:
    """The 25 frames of one packet (the simulator paces them at 75 frames/s)."""
    waves = list(pleth) if pleth is not None else [128] * FRAMES_PER_PACKET
    return packet_frames(sample, frame, waves)


def encode(sample: NoninSample) -> bytes:
    """One packet (125 bytes).

    >>> encode(NoninSample(97, 72))[:15].hex(" ")
    '01 83 80 00 04 01 82 80 48 4b 01 82 80 61 64'
    """
    return b"".join(encode_frames(sample))


class NoninModel(Model):
    """A Nonin OEM III in format #2: one frame every 1/75 s, a packet per second.

    Subclasses for other packet formats change the packet encoder ``_encode`` and
    the pleth midpoint ``_mid`` (:class:`drivers.nonin_df7.NoninDf7Model`).
    """

    period_s = 1.0 / 75.0
    signals = frozenset({"spo2", "pulse"})
    _encode = staticmethod(encode_frames)
    _mid = 128  # 8-bit pleth

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        super().__init__(options)
        self._frames: list[bytes] = []

    def emit(self, state: VitalState, t: float) -> list[bytes]:
        if not self._frames:
            flags = state.all_flags("spo2", "pulse") - {Flag.UNSTABLE, Flag.OVERLOAD}
            sample = NoninSample(
                clamp(round_half_up(state.get("spo2")), 0, 100),
                clamp(round_half_up(state.get("pulse")), 0, 400),
                frozenset(flags),
            )
            k = int(t * 75)
            wave = [math.sin(2 * math.pi * (k + i) / 60) for i in range(25)]
            mid = self._mid
            self._frames = self._encode(sample, [int(mid * (1 + 0.4 * w)) for w in wave])
        return [self._frames.pop(0)]

    def bad_checksum(self, frame: bytes) -> bytes | None:
        return frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))


#: The example packet of the protocol notes in full: SpO2 97 %, HR 72, green perfusion.
SAMPLE_PACKET = bytes.fromhex(
    "01 83 32 00 b6  01 82 33 48 fe  01 82 34 61 18  01 82 35 00 b8  01 82 36 00 b9"
    "01 82 37 00 ba  01 82 38 00 bb  01 82 39 00 bc  01 82 3a 61 1e  01 82 3b 61 1f"
    "01 82 3c 61 20  01 82 3d 00 c0  01 82 3e 00 c1  01 82 3f 00 c2  01 82 40 00 c3"
    "01 82 41 00 c4  01 82 42 00 c5  01 82 43 00 c6  01 82 44 00 c7  01 82 45 00 c8"
    "01 82 46 00 c9  01 82 47 00 ca  01 82 48 00 cb  01 82 49 00 cc  01 82 4a 00 cd"
)

DRIVER = DriverSpec(
    name="nonin-df2",
    description="Nonin OEM III data format #2 (SpO2, pulse), 9600 8N1, 75 frames/s",
    decoder=lambda source, options: NoninDecoder(source, options),
    signals=("spo2", "pulse"),
    sample_frame=SAMPLE_PACKET,
    model=NoninModel,
    baudrate=9600,
    max_quiet_s=3.0,  # OpenICE drops a silent Nonin after 3 s (protocols.md)
)
