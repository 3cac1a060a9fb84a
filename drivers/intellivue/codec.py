"""IntelliVue value codecs: FLOAT-Type, BCD AbsoluteTime, RelativeTime and the binary primitives.

Layouts from the Data Export Interface Programming Guide as read in PERSEUS and
mindleaving (:mod:`drivers.intellivue` names the sources); the FLOAT-Type
examples in :func:`decode_float` are the guide's, quoted in mindleaving's tests.
All multi-byte integers are big-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

# --- FLOAT-Type -----------------------------------------------------------------
FLOAT_NAN = 0x007FFFFF
FLOAT_NRES = 0x00800000
FLOAT_POS_INF = 0x007FFFFE
FLOAT_NEG_INF = 0x00800002
FLOAT_RESERVED = 0x00800001
_SPECIAL_MANTISSAS = frozenset(
    (FLOAT_NAN, FLOAT_NRES, FLOAT_POS_INF, FLOAT_NEG_INF, FLOAT_RESERVED)
)
#: Largest mantissa magnitude that is an ordinary number (0x7FFFFE/F are +INF/NaN).
_MAX_MANTISSA = 0x7FFFFD


def decode_float(raw: int) -> float | None:
    """FLOAT-Type (u32) -> value, or ``None`` for NaN, NRes and +-INF.

    >>> decode_float(0xFD007D00), decode_float(0xFF000140), decode_float(0x02000020)
    (32.0, 32.0, 3200.0)
    >>> decode_float(0x007FFFFF) is None
    True
    """
    mantissa = raw & 0xFFFFFF
    if mantissa in _SPECIAL_MANTISSAS:
        return None
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = (raw >> 24) & 0xFF
    if exponent & 0x80:
        exponent -= 0x100
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return mantissa / 10**-exponent


def encode_float_parts(exponent: int, mantissa: int) -> int:
    """Raw FLOAT-Type from a signed exponent (-128..127) and mantissa (24-bit)."""
    if not -128 <= exponent <= 127 or not -(2**23) <= mantissa < 2**23:
        raise ValueError("exponent or mantissa out of range")
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def encode_float(value: float | None) -> int:
    """Value -> FLOAT-Type with the fewest decimals that represent it (``None``/NaN -> NaN).

    >>> hex(encode_float(97.5)), hex(encode_float(120))
    ('0xff0003cf', '0x78')
    """
    if value is None or value != value:
        return FLOAT_NAN
    if value in (float("inf"), float("-inf")):
        return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF
    for exponent in range(0, -7, -1):  # exact with few decimals?
        mantissa = round(value * 10**-exponent)
        if abs(mantissa) > _MAX_MANTISSA:
            break
        if abs(mantissa / 10**-exponent - value) <= 1e-9 * max(1.0, abs(value)):
            return encode_float_parts(exponent, mantissa)
    for exponent in range(-6, 128):  # else the most precision that fits
        mantissa = round(value / 10**exponent) if exponent >= 0 else round(value * 10**-exponent)
        if abs(mantissa) <= _MAX_MANTISSA:
            return encode_float_parts(exponent, mantissa)
    return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF


# --- AbsoluteTime (BCD) ---------------------------------------------------------
ABS_TIME_INVALID = b"\xff" * 8


def _bcd(b: int) -> int | None:
    hi, lo = b >> 4, b & 0x0F
    return None if hi > 9 or lo > 9 else hi * 10 + lo


def decode_abs_time(raw: bytes, utc_offset_h: float = 0.0) -> float | None:
    """BCD century, year, month, day, hour, minute, second, 1/100 s -> epoch s (None if invalid)."""
    if len(raw) != 8:
        return None
    digits = [_bcd(b) for b in raw]
    if any(d is None for d in digits):
        return None
    cc, yy, mo, dd, hh, mi, ss, ff = (d for d in digits if d is not None)
    try:
        dt = datetime(cc * 100 + yy, mo, dd, hh, mi, ss, ff * 10_000, tzinfo=UTC)
    except ValueError:
        return None
    return (dt - timedelta(hours=utc_offset_h)).timestamp()


def encode_abs_time(t: float | None, utc_offset_h: float = 0.0) -> bytes:
    """Epoch seconds -> BCD AbsoluteTime in the monitor's local time (``None`` -> invalid)."""
    if t is None:
        return ABS_TIME_INVALID
    dt = datetime.fromtimestamp(t, tz=UTC) + timedelta(hours=utc_offset_h)
    parts = (
        dt.year // 100,
        dt.year % 100,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond // 10_000,
    )
    return bytes(((p // 10) << 4) | (p % 10) for p in parts)


# --- binary helpers -------------------------------------------------------------
class Malformed(ValueError):
    """A message that does not parse (short, or lengths that do not add up)."""


class Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed(f"need {n} bytes at {self.pos}, have {self.end - self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def sub(self, n: int) -> Reader:
        r = Reader(self.data, self.pos, self.pos + n)
        self.take(n)
        return r


def u16(v: int) -> bytes:
    return struct.pack(">H", v & 0xFFFF)


def u32(v: int) -> bytes:
    return struct.pack(">I", v & 0xFFFFFFFF)


def length_indicator(n: int) -> bytes:
    """Session/presentation length indicator: 1 byte, or FF + u16."""
    return bytes((n,)) if n < 255 else b"\xff" + u16(n)


def asn_length(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    if n < 256:
        return b"\x81" + bytes((n,))
    return b"\x82" + u16(n)


def attribute_list(avas: Iterable[tuple[int, bytes]]) -> bytes:
    """``AttributeList``: count, length, then (attribute id, length, value) entries."""
    items = list(avas)
    body = b"".join(u16(i) + u16(len(v)) + v for i, v in items)
    return u16(len(items)) + u16(len(body)) + body


def read_attribute_list(r: Reader) -> dict[int, bytes]:
    count, length = r.u16(), r.u16()
    sub = r.sub(length)
    attrs: dict[int, bytes] = {}
    for _ in range(count):
        attr_id, n = sub.u16(), sub.u16()
        attrs.setdefault(attr_id, sub.take(n))
    return attrs


def relative_time(seconds: float) -> int:
    """Seconds -> RelativeTime ticks (1/8 ms)."""
    return round(seconds * 8000) & 0xFFFFFFFF
