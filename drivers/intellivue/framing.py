"""IntelliVue MIB/RS232 transparent framing: ``C0 | 11 01 len | user data | FCS | C1``.

Format (``shared/docs/protocols.md``; Philips "Data Export Interface Programming
Guide", RS232 chapter; read in derekmerck/PERSEUS ``RS232.py`` and mindleaving
patient-monitor-datalogger ``CrcCcittFcsAlgorithm.cs``):

- A frame starts with BOF ``0xC0`` and ends with EOF ``0xC1``.
- Header: protocol id ``0x11`` (data export), message type ``0x01``
  (association control or data export command), then the user-data length as
  a big-endian u16 (length of the *unescaped* user data).
- FCS: CRC-CCITT as in RFC 1171/1662 (reflected polynomial 0x8408, table
  driven), initial value 0xFFFF, ones-complemented, over header + user data,
  sent low byte first. This is CRC-16/X.25: ``fcs(b"123456789") == 0x906E``,
  and running the CRC over data + FCS leaves the RFC 1662 "good FCS" 0xF0B8.
- Transparency: inside the frame (header, user data and FCS) each byte
  ``0xC0``, ``0xC1`` or ``0x7D`` is sent as ``0x7D, b ^ 0x20``.

The reader never raises on garbage: a frame with a bad FCS, a wrong header, a
length that does not match or no EOF before the next BOF is dropped and
counted in ``rejected``, and so is each run of bytes outside a frame
(``noise``: a wrong baud rate may never produce a BOF); the next well-formed
frame is decoded (recovery within one frame). Memory is bounded by ``max_frame``.

>>> data = encode_frame(b"\\xc0\\x01")
>>> data.hex(" ")
'c0 11 01 00 02 7d e0 01 cb d4 c1'
>>> FrameReader().feed(data)
[b'\\xc0\\x01']
"""

from __future__ import annotations

from collections import Counter

BOF = 0xC0
EOF = 0xC1
ESC = 0x7D
ESC_XOR = 0x20
PROTOCOL_ID = 0x11
MSG_TYPE = 0x01
#: Largest unescaped frame body (header + user data + FCS) we accept. The
#: monitor's RS232 MTU is 1000 bytes (mindleaving ``MaxAllowedRs232Mtu``); a
#: generous bound keeps memory fixed whatever arrives.
MAX_FRAME = 4096


def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        x = i
        for _ in range(8):
            x = (x >> 1) ^ 0x8408 if x & 1 else x >> 1
        table.append(x)
    return tuple(table)


FCS_TABLE = _make_table()
GOOD_FCS = 0xF0B8


def crc_ccitt(data: bytes, fcs: int = 0xFFFF) -> int:
    """The running CRC (not complemented) as in RFC 1662 ``pppfcs16``."""
    for b in data:
        fcs = (fcs >> 8) ^ FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def fcs16(data: bytes) -> int:
    """The frame check sequence: ones-complement of the CRC from 0xFFFF.

    >>> hex(fcs16(b"123456789"))
    '0x906e'
    """
    return ~crc_ccitt(data) & 0xFFFF


def escape(body: bytes) -> bytes:
    """Transparency: ``C0``, ``C1``, ``7D`` -> ``7D, b ^ 0x20``.

    >>> escape(bytes([0x01, 0xC0, 0x7D, 0xC1])).hex(" ")
    '01 7d e0 7d 5d 7d e1'
    """
    out = bytearray()
    for b in body:
        if b in (BOF, EOF, ESC):
            out += bytes((ESC, b ^ ESC_XOR))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Inverse of :func:`escape` (a trailing lone ``7D`` is dropped)."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None:
                break
            out.append(nxt ^ ESC_XOR)
        else:
            out.append(b)
    return bytes(out)


def encode_frame(user_data: bytes, *, corrupt_fcs: bool = False) -> bytes:
    """One complete frame on the wire. ``corrupt_fcs`` is for fault injection."""
    if len(user_data) > 0xFFFF:
        raise ValueError("user data longer than 65535 bytes")
    head = bytes((PROTOCOL_ID, MSG_TYPE)) + len(user_data).to_bytes(2, "big")
    fcs = fcs16(head + user_data)
    if corrupt_fcs:
        fcs ^= 0x5A5A
    body = head + user_data + fcs.to_bytes(2, "little")
    return bytes((BOF,)) + escape(body) + bytes((EOF,))


def corrupt_fcs(frame: bytes) -> bytes | None:
    """``frame`` (as on the wire) with its FCS spoiled, or None if it is not one frame."""
    if len(frame) < 2 or frame[0] != BOF or frame[-1] != EOF:
        return None
    body = bytearray(unescape(frame[1:-1]))
    if len(body) < 6:
        return None
    body[-2] ^= 0x5A
    body[-1] ^= 0x5A
    return bytes((BOF,)) + escape(bytes(body)) + bytes((EOF,))


class FrameReader:
    """Incremental frame decoder: bytes in any chunking -> user-data payloads."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.rejected: Counter[str] = Counter()
        self._body = bytearray()
        self._in_frame = False
        self._escaped = False
        self._overlong = False
        self._noise = False

    def reset(self) -> None:
        """Forget a partial frame (after a reconnect: never join bytes across a gap)."""
        self._noise = False
        self._body.clear()
        self._in_frame = False
        self._escaped = False
        self._overlong = False

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for b in data:
            if b == BOF:
                if self._in_frame and (self._body or self._overlong):
                    self.rejected["truncated"] += 1
                self._start()
            elif not self._in_frame:
                if not self._noise:  # noise between frames: one count per run
                    self._noise = True
                    self.rejected["noise"] += 1
            elif b == EOF:
                payload = self._finish()
                if payload is not None:
                    frames.append(payload)
            elif self._overlong:
                continue
            elif self._escaped:
                self._escaped = False
                self._append(b ^ ESC_XOR)
            elif b == ESC:
                self._escaped = True
            else:
                self._append(b)
        return frames

    def _start(self) -> None:
        self._noise = False
        self._body.clear()
        self._in_frame = True
        self._escaped = False
        self._overlong = False

    def _append(self, b: int) -> None:
        if len(self._body) >= self.max_frame:
            self._overlong = True
            self._body.clear()
            return
        self._body.append(b)

    def _finish(self) -> bytes | None:
        self._in_frame = False
        body = bytes(self._body)
        self._body.clear()
        if self._overlong or self._escaped:
            self.rejected["overlong" if self._overlong else "malformed"] += 1
            return None
        if len(body) < 6:
            self.rejected["malformed"] += 1
            return None
        if crc_ccitt(body) != GOOD_FCS:
            self.rejected["checksum"] += 1
            return None
        if body[0] != PROTOCOL_ID or body[1] != MSG_TYPE:
            self.rejected["header"] += 1
            return None
        length = int.from_bytes(body[2:4], "big")
        if length != len(body) - 6:
            self.rejected["length"] += 1
            return None
        return body[4:-2]
