"""MLLP, the Minimal Lower Layer Protocol (HL7 v2.x Implementation Guide, Appendix C).

A frame is ``<VT> message <FS><CR>`` (``0x0B`` ... ``0x1C 0x0D``). The sender writes one
message and waits for the receiver's acknowledgement frame (original mode) before it
sends the next, which keeps the order. :class:`MllpLink` is that sender: blocking
socket, a timeout on connect and on the wait, a bounded receive buffer. Any failure
closes the socket; the caller retries the same message on a fresh connection.

(The ``hl7`` package's ``MLLPClient`` does one ``recv(4096)`` after sending, with no
timeout, so a split or late ACK would be misread; its ``hl7.mllp`` streams need
asyncio. The tests' receiver uses ``hl7.mllp``, an implementation independent of this
one.)

>>> frame(b"MSH|...")
b'\\x0bMSH|...\\x1c\\r'
>>> r = FrameReader(1024)
>>> r.feed(b"junk\\x0bMSA|A"), r.feed(b"A\\x1c\\r\\x0bnext")
([], [b'MSA|AA'])
"""

from __future__ import annotations

import logging
import socket
import time
from urllib.parse import urlsplit

from edge.config import ConfigError

log = logging.getLogger(__name__)

SB = b"\x0b"
EB = b"\x1c"
CR = b"\r"


def frame(message: bytes) -> bytes:
    return SB + message + EB + CR


def parse_mllp_url(url: str) -> tuple[str, int]:
    """``mllp://HOST:PORT`` -> (host, port).

    >>> parse_mllp_url("mllp://127.0.0.1:2575")
    ('127.0.0.1', 2575)
    """
    parts = urlsplit(url)
    if parts.scheme != "mllp" or not parts.hostname:
        raise ConfigError("--hl7", f"must be mllp://HOST:PORT, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not port:
        raise ConfigError("--hl7", f"needs a port (mllp://HOST:PORT), got {url!r}")
    return parts.hostname, port


class ProtocolError(Exception):
    """The receiver broke MLLP (an oversized frame, bytes outside a frame, no answer)."""


class FrameReader:
    """Bytes in, complete frames out. Bytes before a start block are dropped (and counted)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while True:
            start = self._buf.find(SB)
            if start < 0:
                self.skipped += len(self._buf)
                self._buf.clear()
                break
            if start:
                self.skipped += start
                del self._buf[:start]
            end = self._buf.find(EB + CR)
            if end < 0:
                if len(self._buf) > self.max_bytes:
                    self._buf.clear()
                    raise ProtocolError(f"frame longer than {self.max_bytes} bytes")
                break
            out.append(bytes(self._buf[1:end]))
            del self._buf[: end + 2]
        return out


class MllpLink:
    """One connection to an MLLP receiver, opened on demand."""

    def __init__(self, host: str, port: int, *, timeout: float, max_bytes: int) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._sock: socket.socket | None = None
        self._reader = FrameReader(max_bytes)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._reader = FrameReader(self.max_bytes)
            log.info("connected to the MLLP receiver %s:%d", self.host, self.port)
        return self._sock

    def exchange(self, message: bytes) -> bytes:
        """Send one message, return the first frame that comes back (the ACK).

        Raises ``OSError`` (connection), ``TimeoutError`` (no answer within the timeout)
        or :class:`ProtocolError`; the connection is closed in every case.
        """
        try:
            sock = self._connect()
            sock.sendall(frame(message))
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no acknowledgement within {self.timeout:g} s")
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("the receiver closed the connection")
                frames = self._reader.feed(data)
                if frames:
                    return frames[0]
        except BaseException:
            self.close()
            raise
