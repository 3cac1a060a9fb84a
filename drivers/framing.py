"""Line framing shared by the ASCII drivers (transport-independent)."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from edge.vocabulary import Reading


class LineFramer:
    """Split a byte stream into lines on CR and/or LF, in any chunking.

    A line longer than ``max_len`` without a terminator is garbage: it is
    dropped (counted as ``overlong``) and framing restarts at the next
    terminator, so memory stays bounded whatever arrives.

    >>> f = LineFramer()
    >>> f.feed(b"ab\\r\\ncd"), f.feed(b"\\n\\r\\n")
    ([b'ab'], [b'cd'])
    """

    def __init__(self, max_len: int = 512) -> None:
        self.max_len = max_len
        self._buf = bytearray()
        self._skipping = False
        self.rejected: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget a partial line (after a reconnect: never join across a gap)."""
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        parts = data.replace(b"\r", b"\n").split(b"\n")
        for i, part in enumerate(parts):
            if not self._skipping:
                self._buf += part
                if len(self._buf) > self.max_len:
                    self.rejected["overlong"] += 1
                    self._buf.clear()
                    self._skipping = True
            if i == len(parts) - 1:
                break  # no terminator after the last part: keep it for later
            if self._skipping:
                self._skipping = False
            else:
                line = bytes(self._buf).strip()
                if line:
                    lines.append(line)
            self._buf.clear()
        return lines


class LineDecoder:
    """Base of the line-per-frame decoders: framing, ``reset`` and the counters.

    A subclass sets ``max_len`` and implements :meth:`decode_line`; everything
    else (any chunking, bounded memory, garbage counted in ``rejected``, lines
    the protocol defines but that carry no reading counted in ``ignored``, every
    line that is not garbage counted in ``frames``) is here once.
    """

    max_len: ClassVar[int] = 512

    def __init__(self, source: str) -> None:
        self.source = source
        self._framer = LineFramer(max_len=self.max_len)
        self.rejected: Counter[str] = self._framer.rejected
        self.ignored: Counter[str] = Counter()
        #: Valid lines decoded, with or without a reading (the transport's sign of life).
        self.frames = 0

    def reset(self) -> None:
        self._framer.reset()

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        rejected = self.rejected
        for line in self._framer.feed(data):
            before = rejected.total()
            out.extend(self.decode_line(line, now))
            if rejected.total() == before:
                self.frames += 1
        return out

    def decode_line(self, line: bytes, now: float | None = None) -> list[Reading]:
        """The readings of one complete line (without its terminator)."""
        raise NotImplementedError
