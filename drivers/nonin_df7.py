"""Nonin OEM III data format #7 (SpO2, pulse, 16-bit pleth): 5-byte frames, 25-frame packets.

Protocol (``shared/docs/protocols.md``; same sources and caveats as
:mod:`drivers.nonin_df2`: verify against Nonin's OEM III specification before
clinical use):

- 9600 8N1, 75 frames/s. A frame is 5 bytes, **without** the 0x01 start byte
  of format #2::

      STATUS, PLETH MSB, PLETH LSB, DATA, CHK      CHK = (sum of the 4 bytes) mod 256

- STATUS (bit 7 always set, 0x01 SYNC on a packet's first frame), the
  25-frame packet and the meaning of DATA per frame are as in format #2:
  frame 1 HR MSB, 2 HR LSB, 3 SpO2 (4-beat average); HR 511 / SpO2 127 missing.
  Format #13 uses the same frame.

Example packet start (SpO2 97 %, HR 72, pleth 0x1234, green perfusion)::

    83 12 34 00 C9   82 12 34 48 10   82 12 34 61 29 ...

Decoding is the format #2 decoder with the frame shape changed: a frame needs
STATUS bit 7 and a good checksum; anything else slides one byte; a packet
with a bad or missing frame yields nothing. Signals and flags as format #2.

Simulator (:class:`NoninDf7Model`): as format #2, with 16-bit pleth.
:data:`SAMPLE_PACKET` is the example packet above in full.

Assumption: with no start byte, synchronisation rests on STATUS bit 7 and the
checksum alone, so a random byte run passes as a frame about once in 512
positions; the SYNC/25-frame packet structure then rejects it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drivers.base import DriverSpec
from drivers.nonin_df2 import (
    FRAMES_PER_PACKET,
    NoninDecoder,
    NoninModel,
    NoninSample,
    packet_frames,
)


class NoninDf7Decoder(NoninDecoder):
    START_BYTE = None

    def __init__(self, source: str = "nonin-df7", options: Mapping[str, Any] | None = None):
        super().__init__(source, options)


def frame(status: int, pleth: int, data: int) -> bytes:
    """One 5-byte format #7 frame with its checksum."""
    body = bytes((0x80 | (status & 0x7F), (pleth >> 8) & 0xFF, pleth & 0xFF, data & 0xFF))
    return body + bytes((sum(body) & 0xFF,))


def encode_frames(sample: NoninSample, pleth: Iterable[int] | None = None) -> list[bytes]:
    """The 25 frames of one packet."""
    waves = list(pleth) if pleth is not None else [0x8000] * FRAMES_PER_PACKET
    return packet_frames(sample, frame, waves)


def encode(sample: NoninSample) -> bytes:
    """One packet (125 bytes).

    >>> encode_frames(NoninSample(97, 72), [0x1234] * 25)[1].hex(" ")
    '82 12 34 48 10'
    """
    return b"".join(encode_frames(sample))


class NoninDf7Model(NoninModel):
    """A Nonin OEM III in format #7: the format #2 model with 5-byte frames, 16-bit pleth."""

    _encode = staticmethod(encode_frames)
    _mid = 0x8000  # 16-bit pleth


#: The example packet of the protocol notes in full: SpO2 97 %, HR 72, pleth 0x1234.
SAMPLE_PACKET = bytes.fromhex(
    "83 12 34 00 c9  82 12 34 48 10  82 12 34 61 29  82 12 34 00 c8  82 12 34 00 c8"
    "82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 61 29  82 12 34 61 29"
    "82 12 34 61 29  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8"
    "82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8"
    "82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8  82 12 34 00 c8"
)

DRIVER = DriverSpec(
    name="nonin-df7",
    description="Nonin OEM III data format #7/#13 (SpO2, pulse), 9600 8N1, 75 frames/s",
    decoder=lambda source, options: NoninDf7Decoder(source, options),
    signals=("spo2", "pulse"),
    sample_frame=SAMPLE_PACKET,
    model=NoninDf7Model,
    baudrate=9600,
    max_quiet_s=3.0,
)
