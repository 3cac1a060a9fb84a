"""Raw-byte captures of a device session, for replay and for the test corpus.

Format (text, one chunk per line, so it diffs and greps)::

    # capleak-capture 1
    # driver=masimo-ascii port=/dev/ttyUSB0 baudrate=9600 started=2026-11-29T05:00:00.000Z
    1795928777.279147 rx 30392f31352f3130203135...
    1795928777.300021 tx 500d

- ``#`` lines are comments; the first says the format version, the second the
  driver and port settings the capture was made with.
- Each data line: receive time (UTC epoch seconds, microseconds), direction
  (``rx`` = device to host, ``tx`` = host to device: the poll commands sent),
  and the bytes as lower-case hex, exactly as they arrived in that read.

``capleak capture`` writes it; ``capleak simulate --replay FILE`` plays the
``rx`` chunks back with their original timing (``--speed`` scales it), and
``capleak decode --driver NAME --capture FILE`` decodes a capture offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

MAGIC = "# capleak-capture 1"


class CaptureWriter:
    """Append chunks to an open text file, flushing each line (a crash keeps the data)."""

    def __init__(self, out: IO[str], header: str = "") -> None:
        self.out = out
        self.chunks = 0
        self.bytes = 0
        out.write(MAGIC + "\n")
        if header:
            out.write(f"# {header}\n")
        out.flush()

    def write(self, direction: str, data: bytes, time: float) -> None:
        if direction not in ("rx", "tx"):
            raise ValueError(f"direction must be rx or tx, got {direction!r}")
        self.out.write(f"{time:.6f} {direction} {data.hex()}\n")
        self.out.flush()
        self.chunks += 1
        self.bytes += len(data)


def read_capture(lines: IO[str]) -> Iterator[tuple[float, str, bytes]]:
    """``(time, direction, bytes)`` per chunk; a malformed line raises ValueError naming it."""
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            if lineno == 1 and text != MAGIC:
                raise ValueError(f"line 1: not a capleak capture (expected {MAGIC!r})")
            continue
        if lineno == 1:
            raise ValueError(f"line 1: not a capleak capture (expected {MAGIC!r})")
        try:
            t, direction, hexdata = text.split()
            if direction not in ("rx", "tx"):
                raise ValueError(f"direction {direction!r}")
            yield float(t), direction, bytes.fromhex(hexdata)
        except ValueError as e:
            raise ValueError(f"line {lineno}: malformed capture line: {e}") from None
