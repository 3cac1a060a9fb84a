"""Philips IntelliVue (MP/MX) MIB/RS232 data export: NIBP, SpO2, pulse, perfusion index.

The reference is Philips' "Data Export Interface Programming Guide" (document
4535 642 59271, cited by implementations as PIPG-nn). The guide itself was not
available here; the format below was read from ``shared/docs/protocols.md`` and
from open implementations (read, not copied): derekmerck/PERSEUS
``TelemetryStream/IntellivueProtocol`` (Python: ``RS232.py``,
``IntellivueDecoder.py``, ``OIDTypes.txt``) and mindleaving
patient-monitor-datalogger (C#: ``CommandMessageCreator.cs``,
``PresentationHeader.cs``, ``SessionData.cs``, ``PresentationTrailer.cs``,
``CrcCcittFcsAlgorithm.cs``, tests ``IntellivueFloatTest.cs``).

Serial line
-----------
115200 8N1, no flow control (configure the monitor's MIB/RS232 port for data
export). Framing (BOF/EOF, ``11 01 len`` header, 7D transparency, FCS) is in
:mod:`drivers.intellivue_frame`. The host sends at most 4 frames per 128 ms.

Session (host = capleak, "client"; monitor = "server")
------------------------------------------------------
1. Host -> monitor: **association request** (session SPDU ``0x0D``, fixed
   session data ``05 08 13 01 00 16 01 02 80 00 14 02 00 02``, fixed ASN.1
   presentation header ``C1 LI 31 80 A0 80 ... 02 01 02 81``, then the ASN.1
   length and ``MDSEUserInfoStd``: protocol version 0x80000000, nomenclature
   0x40000000, functional units 0, system type client 0x80000000, startup
   mode cold 0x20000000, empty option list, and the supported profiles list
   with ``NOM_POLL_PROFILE_SUPPORT`` (revision 0x80000000, min poll period,
   MTU rx 2500 / tx 1000, bandwidth 0xFFFFFFFF, options 0x60000000) holding
   ``NOM_ATTR_POLL_PROFILE_EXT`` (options 0x80000000 = 1 s numerics); then a
   16-byte zero presentation trailer). Example (the exact bytes this module
   sends, user data before framing)::

       0d ec 05 08 13 01 00 16 01 02 80 00 14 02 00 02 c1 dc 31 80 a0 80 80 01
       01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01 30
       ... (fixed presentation header) ... 01 01 02 01 02 81 48
       80 00 00 00 40 00 00 00 00 00 00 00 80 00 00 00 20 00 00 00 00 00 00 00
       00 01 00 2c 00 01 00 28 80 00 00 00 00 00 1f 40 00 00 09 c4 00 00 03 e8
       ff ff ff ff 60 00 00 00 00 01 00 0c f0 01 00 08 80 00 00 00 00 00 00 00
       00 x 16

2. Monitor -> host: **association response** (SPDU ``0x0E``; refuse ``0x0C``).
3. Monitor -> host: **MDS Create Event Report** (data export ROIV, confirmed
   event report, event ``NOM_NOTI_MDS_CREAT`` 0x0D06). The host **must**
   answer with an event report result (RORS, same invoke id, same managed
   object, ``NOM_NOTI_MDS_CREAT``, length 0), or the monitor drops it.
4. Host -> monitor: **extended poll** requests (ROIV confirmed action on the
   MDS object ``NOM_MOC_VMS_MDS``/0/0, action ``NOM_ACT_POLL_MDIB_DATA_EXT``
   0xF13B, polled object type ``NOM_PART_OBJ``/``NOM_MOC_VMO_METRIC_NU`` 1/6,
   attribute group 0 = all), one every ``poll_interval_s``. Replies are RORS
   (or linked ROLRS ``state`` 1/2/3 for multi-part results), each a complete
   ``PollMdibDataReplyExt``: poll number, sequence number, relative time
   (1/8 ms ticks), absolute time (BCD, often invalid = FF...), polled type,
   attribute group, then ``PollInfoList`` -> ``SingleContextPoll`` ->
   ``ObservationPoll`` (handle + attribute list).
5. **Keep-alive**: every poll resets the monitor's timeout; if nothing was
   sent for ``keepalive_s`` the host sends a single poll of the alert monitor
   (``NOM_MOC_VMO_AL_MON`` 54, group ``NOM_ATTR_GRP_VMO_STATIC`` 2065): the
   cheapest request, as mindleaving notes the guide suggests.
6. **Release / abort**: a monitor release request (``0x09``) is answered with
   a release response (``0x0A``); an abort (``0x19``) or a refuse ends the
   association. In all three cases, and when the monitor is silent for
   ``silence_s`` while associated (the host then sends an abort itself), the
   session re-associates after ``reassociate_delay_s``. An association
   request that gets no answer within ``association_timeout_s`` is repeated,
   preceded by an abort (the monitor may still hold a stale association).

Numerics
--------
Attributes ``NOM_ATTR_NU_VAL_OBS`` 2384 (one ``NuObsValue``) and
``NOM_ATTR_NU_CMPD_VAL_OBS`` 2379 (count, length, NuObsValues: NIBP arrives as
one compound). ``NuObsValue`` = physio id u16, measurement state u16, unit
code u16, FLOAT-Type u32. Physio ids: NOM_PRESS_BLD_NONINV_SYS/DIA/MEAN
18949/18950/18951 -> ``sbp``/``dbp``/``map``; NOM_PULS_OXIM_SAT_O2 19384 ->
``spo2``; NOM_PLETH_PULS_RATE 18466 -> ``pulse``; NOM_PULS_OXIM_PERF_REL
19376 -> ``pi``. Units: mmHg 3872 (kPa 3843 converted), % 544, /min 2720,
PI also dimensionless 512.

FLOAT-Type: signed 8-bit exponent, signed 24-bit mantissa, value = m x 10^e.
Special mantissas NaN 0x7FFFFF, NRes 0x800000, +INF 0x7FFFFE, -INF 0x800002
(and the reserved 0x800001) mean **no reading**. Guide examples (via
mindleaving's tests): 0xFD007D00 = 32.000, 0xFF000140 = 32.0,
0x01000140 = 3200, 0x02000020 = 3200.

Measurement state bits (PERSEUS ``MeasurementState``) -> reading flags:
0x8000 INVALID -> ``artifact``; 0x4000 QUESTIONABLE -> ``low_quality``;
0x2000 UNAVAILABLE -> no reading; 0x1000 CALIBRATION_ONGOING -> ``searching``;
0x0800 TEST_DATA, 0x0400 DEMO_DATA -> no reading (counted in ``skipped``;
option ``accept_demo_data`` for bench tests against a monitor in demo mode);
0x0040 EARLY_INDICATION and 0x0020 MSMT_ONGOING -> ``unstable``; 0x0080
VALIDATED, 0x0002 IN_ALARM, 0x0001 AL_INHIBITED -> nothing.

Times: an observation's ``NOM_ATTR_TIME_STAMP_ABS`` 2448 (BCD, the monitor's
local time, shifted by option ``utc_offset_h``) when valid; else its
``NOM_ATTR_TIME_STAMP_REL`` 2449 against the reply's relative time and the
receive time ``now``; else the reply's absolute time when valid; else ``now``.
NIBP is repeated on every poll until the next measurement: sbp/dbp/map are
emitted once per measurement (a new time stamp or new values).

What was checked against which source, and what is inferred
------------------------------------------------------------
- The association request, the MDS create event result and the extended poll
  request are byte-identical to those of a third open C# client (anaesthesia
  record software, found by code search; repository not identified), apart
  from the values we choose (poll period, attribute group, ids); the tests
  use its bytes as fixtures.
- Checked against two independent implementations (PERSEUS and mindleaving):
  framing, escaping, FCS algorithm, the association request/response/release/
  abort byte layouts, session data, the MDS create event and its result, the
  poll request/reply layouts, attribute and object ids, the measurement state
  bits, FLOAT-Type special values. Checked against guide examples quoted by
  mindleaving: the four FLOAT-Type values above. Checked against the CRC-16/X.25
  standard check value (``123456789`` -> 0x906E); no FCS vector from the guide
  itself was found.
- Keep-alive content: mindleaving's comment citing the guide; the default
  ``keepalive_s`` (5 s) and ``silence_s`` (10 s) are our choices, not from the
  guide.
- Inferred: the monitor's exact association *response* user info (we parse
  only the leading SPDU byte, plus the poll profile when present); startup
  mode cold start (mindleaving's default; PERSEUS sends hot start, and we do
  not know whether a monitor treats them differently); units for PI (544 or 512); the kPa conversion; the
  rel-time-stamp arithmetic (1/8 ms ticks, wrapping at 2^32); that each linked
  (ROLRS) reply part carries its own complete ``PollInfoList``; the choice of
  flags for each state bit; taking the first value of each physio id per
  reply (a second SpO2 sensor is ignored).
- No capture of a real monitor's serial stream was available: the fixtures in
  the tests are built from the layouts above, not recorded.

Driving the session (for the transport)
---------------------------------------
:class:`IntelliVueSession` is pure: ``feed(bytes, now, stamp) -> (readings,
out)`` and ``on_timer(now) -> out``; write ``out`` to the port. ``now`` is
real monotonic seconds (timers), ``stamp`` the clock's epoch time (readings). Call ``on_timer`` at
least every ``next_timer(now)`` seconds (a 50-100 ms read timeout is fine),
call ``reset()`` after reopening the port, and ``close(now)`` before closing
it (returns a release request). ``DriverSpec.session`` hands the session to
:class:`drivers.transport.DeviceLink`, which does all this in the agent and in
``capleak capture``; :func:`run_session` is a minimal pyserial loop doing the
same for bench checks. The passive :class:`IntelliVueDecoder` (the
``DriverSpec.decoder``) decodes a captured monitor byte stream offline.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.base import DriverSpec
from drivers.intellivue_frame import FrameReader, encode_frame
from edge.vocabulary import Flag, Reading

log = logging.getLogger(__name__)

# --- nomenclature (PERSEUS OIDTypes.txt, protocols.md) ---------------------------
NOM_PART_OBJ = 1
NOM_PART_SCADA = 2
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMS_MDS = 33
NOM_MOC_VMO_AL_MON = 54
NOM_ATTR_GRP_VMO_STATIC = 2065
NOM_ATTR_ID_HANDLE = 2337
NOM_ATTR_ID_TYPE = 2351
NOM_ATTR_NU_CMPD_VAL_OBS = 2379
NOM_ATTR_NU_VAL_OBS = 2384
NOM_ATTR_TIME_STAMP_ABS = 2448
NOM_ATTR_TIME_STAMP_REL = 2449
NOM_ATTR_VMS_MDS_STAT = 2471
NOM_ACT_POLL_MDIB_DATA = 3094  # 0x0C16
NOM_NOTI_MDS_CREAT = 3334  # 0x0D06
NOM_ACT_POLL_MDIB_DATA_EXT = 61755  # 0xF13B
NOM_ATTR_TIME_PD_POLL = 61758  # 0xF13E
NOM_POLL_PROFILE_SUPPORT = 0x0001
NOM_ATTR_POLL_PROFILE_EXT = 0xF001

NOM_PRESS_BLD_NONINV = 18948
NOM_PRESS_BLD_NONINV_SYS = 18949
NOM_PRESS_BLD_NONINV_DIA = 18950
NOM_PRESS_BLD_NONINV_MEAN = 18951
NOM_PLETH_PULS_RATE = 18466
NOM_PULS_OXIM_PERF_REL = 19376
NOM_PULS_OXIM_SAT_O2 = 19384

NOM_DIM_DIMLESS = 512
NOM_DIM_PERCENT = 544
NOM_DIM_BEAT_PER_MIN = 2720
NOM_DIM_KILO_PA = 3843
NOM_DIM_MMHG = 3872

# remote operation types and commands
ROIV, RORS, ROER, ROLRS = 1, 2, 3, 5
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_CONFIRMED_ACTION = 0, 1, 7
SESSION_ID = 0xE100
DEFAULT_CONTEXT = 2

# session SPDU types (first byte of association control user data)
SPDU_CN, SPDU_AC, SPDU_RF, SPDU_FN, SPDU_DN, SPDU_AB = 0x0D, 0x0E, 0x0C, 0x09, 0x0A, 0x19

#: physio id -> signal
PHYSIO_SIGNALS: Mapping[int, str] = {
    NOM_PRESS_BLD_NONINV_SYS: "sbp",
    NOM_PRESS_BLD_NONINV_DIA: "dbp",
    NOM_PRESS_BLD_NONINV_MEAN: "map",
    NOM_PULS_OXIM_SAT_O2: "spo2",
    NOM_PLETH_PULS_RATE: "pulse",
    NOM_PULS_OXIM_PERF_REL: "pi",
}
SIGNAL_PHYSIO: Mapping[str, int] = {s: p for p, s in PHYSIO_SIGNALS.items()}
NIBP_SIGNALS = ("sbp", "dbp", "map")
_MMHG_PER_KPA = 7.500617

#: signal -> {unit code: factor to the vocabulary unit}
UNIT_FACTORS: Mapping[str, Mapping[int, float]] = {
    "sbp": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "dbp": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "map": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "spo2": {NOM_DIM_PERCENT: 1.0},
    "pulse": {NOM_DIM_BEAT_PER_MIN: 1.0},
    "pi": {NOM_DIM_PERCENT: 1.0, NOM_DIM_DIMLESS: 1.0},
}
DEFAULT_UNIT: Mapping[str, int] = {
    "sbp": NOM_DIM_MMHG,
    "dbp": NOM_DIM_MMHG,
    "map": NOM_DIM_MMHG,
    "spo2": NOM_DIM_PERCENT,
    "pulse": NOM_DIM_BEAT_PER_MIN,
    "pi": NOM_DIM_PERCENT,
}
#: plausible device values (the core applies clinical plausibility later)
RANGES: Mapping[str, tuple[float, float]] = {
    "sbp": (0.0, 350.0),
    "dbp": (0.0, 350.0),
    "map": (0.0, 350.0),
    "spo2": (0.0, 100.0),
    "pulse": (0.0, 400.0),
    "pi": (0.0, 100.0),
}

# measurement state bits (PERSEUS IntellivueDecoder.py 'MeasurementState')
MS_INVALID = 0x8000
MS_QUESTIONABLE = 0x4000
MS_UNAVAILABLE = 0x2000
MS_CALIBRATION_ONGOING = 0x1000
MS_TEST_DATA = 0x0800
MS_DEMO_DATA = 0x0400
MS_VALIDATED_DATA = 0x0080
MS_EARLY_INDICATION = 0x0040
MS_MSMT_ONGOING = 0x0020
MS_IN_ALARM = 0x0002
MS_AL_INHIBITED = 0x0001

STATE_FLAGS: Mapping[int, str] = {
    MS_INVALID: Flag.ARTIFACT,
    MS_QUESTIONABLE: Flag.LOW_QUALITY,
    MS_CALIBRATION_ONGOING: Flag.SEARCHING,
    MS_EARLY_INDICATION: Flag.UNSTABLE,
    MS_MSMT_ONGOING: Flag.UNSTABLE,
}


def flags_from_state(state: int) -> frozenset[str]:
    """Measurement state bits -> reading flags.

    >>> sorted(flags_from_state(MS_INVALID | MS_QUESTIONABLE | MS_VALIDATED_DATA))
    ['artifact', 'low_quality']
    """
    return frozenset(str(flag) for bit, flag in STATE_FLAGS.items() if state & bit)


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


class _Reader:
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

    def sub(self, n: int) -> _Reader:
        r = _Reader(self.data, self.pos, self.pos + n)
        self.take(n)
        return r


def _u16(v: int) -> bytes:
    return struct.pack(">H", v & 0xFFFF)


def _u32(v: int) -> bytes:
    return struct.pack(">I", v & 0xFFFFFFFF)


def _li(n: int) -> bytes:
    """Session/presentation length indicator: 1 byte, or FF + u16."""
    return bytes((n,)) if n < 255 else b"\xff" + _u16(n)


def _asn_len(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    if n < 256:
        return b"\x81" + bytes((n,))
    return b"\x82" + _u16(n)


def attribute_list(avas: Iterable[tuple[int, bytes]]) -> bytes:
    """``AttributeList``: count, length, then (attribute id, length, value) entries."""
    items = list(avas)
    body = b"".join(_u16(i) + _u16(len(v)) + v for i, v in items)
    return _u16(len(items)) + _u16(len(body)) + body


def _read_attribute_list(r: _Reader) -> dict[int, bytes]:
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


# --- association control --------------------------------------------------------
ASSOC_SESSION_DATA = bytes.fromhex("05 08 13 01 00 16 01 02 80 00 14 02 00 02")
ASSOC_REQ_PRESENTATION = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01"
    " 30 80 06 02 51 01 00 00 00 00 30 80 02 01 02 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01"
    " 30 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 00 00 61 80 30 80 02 01 01"
    " a0 80 60 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 be 80 28 80 06 0c 2a"
    " 86 48 ce 14 02 01 00 00 00 01 01 02 01 02 81"
)
ASSOC_RESP_PRESENTATION = bytes.fromhex(
    "31 80 a0 80 80 01 01 00 00 a2 80 a0 03 00 00 01 a5 80 30 80 80 01 00 81 02 51 01 00 00"
    " 30 80 80 01 00 81 0c 2a 86 48 ce 14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01"
    " 01 a0 80 61 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 03 01 00 00 a2 03 02 01 00 a3"
    " 05 a1 03 02 01 00 be 80 28 80 02 01 02 81"
)
_USER_INFO_MARKER = bytes.fromhex("02 01 02 81")
RELEASE_REQUEST = bytes.fromhex(
    "09 18 c1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00"
)
RELEASE_RESPONSE = bytes.fromhex(
    "0a 18 c1 16 61 80 30 80 02 01 01 a0 80 63 80 80 01 00 00 00 00 00 00 00 00 00"
)
ABORT = bytes.fromhex(
    "19 2e 11 01 03 c1 29 a0 80 a0 80 30 80 02 01 01 06 02 51 01 00 00 00 00 61 80 30 80"
    " 02 01 01 a0 80 64 80 80 01 01 00 00 00 00 00 00 00 00 00 00"
)
REFUSE = bytes.fromhex("0c 03 32 01 00")

SYST_CLIENT = 0x80000000
SYST_SERVER = 0x00800000
STARTUP_COLD = 0x20000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
P_OPT_DYN_CREATE_AND_DELETE = 0x60000000


def user_info(
    system_type: int,
    min_poll_period_s: float = 1.0,
    mtu_rx: int = 2500,
    mtu_tx: int = 1000,
    ext_options: int = 0,
) -> bytes:
    """``MDSEUserInfoStd`` with a poll profile (and its extension).

    MTUs as mindleaving and a third C# client send them: receive 2500, transmit
    1000 (the RS232 maximum).
    """
    ext = _u32(ext_options or POLL_EXT_PERIOD_NU_1SEC) + attribute_list(())
    profile = (
        _u32(0x80000000)  # POLL_PROFILE_REV_0
        + _u32(relative_time(min_poll_period_s))
        + _u32(mtu_rx)
        + _u32(mtu_tx)
        + _u32(0xFFFFFFFF)  # max_bw_tx: no estimation possible
        + _u32(P_OPT_DYN_CREATE_AND_DELETE)
        + attribute_list([(NOM_ATTR_POLL_PROFILE_EXT, ext)])
    )
    return (
        _u32(0x80000000)  # MDDL_VERSION1
        + _u32(0x40000000)  # NOMEN_VERSION
        + _u32(0)  # functional units
        + _u32(system_type)
        + _u32(STARTUP_COLD)
        + attribute_list(())  # option list
        + attribute_list([(NOM_POLL_PROFILE_SUPPORT, profile)])
    )


def _association(spdu: int, presentation: bytes, info: bytes) -> bytes:
    body = presentation + _asn_len(len(info)) + info + bytes(16)
    pres = b"\xc1" + _li(len(body)) + body
    session = ASSOC_SESSION_DATA + pres
    return bytes((spdu,)) + _li(len(session)) + session


def association_request(min_poll_period_s: float = 1.0) -> bytes:
    """The association request user data (host -> monitor)."""
    return _association(SPDU_CN, ASSOC_REQ_PRESENTATION, user_info(SYST_CLIENT, min_poll_period_s))


def association_response(min_poll_period_s: float = 1.0) -> bytes:
    """The association response user data (monitor -> host; used by the simulator)."""
    return _association(SPDU_AC, ASSOC_RESP_PRESENTATION, user_info(SYST_SERVER, min_poll_period_s))


def parse_min_poll_period(accept: bytes) -> float | None:
    """The monitor's minimum poll period (s) from an association response, if present."""
    at = accept.find(_USER_INFO_MARKER)
    if at < 0:
        return None
    try:
        r = _Reader(accept, at + len(_USER_INFO_MARKER))
        n = r.u8()
        if n == 0x81:
            n = r.u8()
        elif n == 0x82:
            n = r.u16()
        info = r.sub(n)
        info.take(20)
        _read_attribute_list(info)
        profiles = _read_attribute_list(info)
        profile = profiles.get(NOM_POLL_PROFILE_SUPPORT)
        if profile is None or len(profile) < 8:
            return None
        return int.from_bytes(profile[4:8], "big") / 8000.0
    except Malformed:
        return None


# --- data export messages -------------------------------------------------------
def _data_export(context: int, ro_type: int, apdu: bytes) -> bytes:
    return _u16(SESSION_ID) + _u16(context) + _u16(ro_type) + _u16(len(apdu)) + apdu


def _mds_object() -> bytes:
    return _u16(NOM_MOC_VMS_MDS) + _u16(0) + _u16(0)


def _action(context: int, invoke_id: int, action_type: int, arg: bytes) -> bytes:
    action = _mds_object() + _u32(0) + _u16(action_type) + _u16(len(arg)) + arg
    roiv = _u16(invoke_id) + _u16(CMD_CONFIRMED_ACTION) + _u16(len(action)) + action
    return _data_export(context, ROIV, roiv)


def extended_poll_request(
    context: int,
    invoke_id: int,
    poll_number: int,
    object_code: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
    period_s: float | None = None,
) -> bytes:
    """``NOM_ACT_POLL_MDIB_DATA_EXT`` for all numerics (optionally time-periodic)."""
    ext = [] if period_s is None else [(NOM_ATTR_TIME_PD_POLL, _u32(relative_time(period_s)))]
    arg = (
        _u16(poll_number) + _u16(NOM_PART_OBJ) + _u16(object_code) + _u16(attr_group)
    ) + attribute_list(ext)
    return _action(context, invoke_id, NOM_ACT_POLL_MDIB_DATA_EXT, arg)


def keepalive_request(context: int, invoke_id: int, poll_number: int) -> bytes:
    """Single poll of the alert monitor's static attributes: the cheapest request."""
    arg = (
        _u16(poll_number)
        + _u16(NOM_PART_OBJ)
        + _u16(NOM_MOC_VMO_AL_MON)
        + _u16(NOM_ATTR_GRP_VMO_STATIC)
    )
    return _action(context, invoke_id, NOM_ACT_POLL_MDIB_DATA, arg)


def mds_create_result(context: int, invoke_id: int, managed_object: bytes, time: int) -> bytes:
    """The answer the monitor requires to its MDS Create Event Report."""
    result = managed_object + _u32(time) + _u16(NOM_NOTI_MDS_CREAT) + _u16(0)
    rors = _u16(invoke_id) + _u16(CMD_CONFIRMED_EVENT_REPORT) + _u16(len(result)) + result
    return _data_export(context, RORS, rors)


def mds_create_event(context: int, invoke_id: int, rel_time: int) -> bytes:
    """The monitor's MDS Create Event Report (used by the simulator)."""
    info = _mds_object() + attribute_list(
        [
            (NOM_ATTR_ID_TYPE, _u16(NOM_PART_OBJ) + _u16(NOM_MOC_VMS_MDS)),
            (NOM_ATTR_VMS_MDS_STAT, _u16(6)),  # OPERATING
        ]
    )
    arg = _mds_object() + _u32(rel_time) + _u16(NOM_NOTI_MDS_CREAT) + _u16(len(info)) + info
    roiv = _u16(invoke_id) + _u16(CMD_CONFIRMED_EVENT_REPORT) + _u16(len(arg)) + arg
    return _data_export(context, ROIV, roiv)


def nu_obs_value(physio: int, value: float | None, unit: int, state: int = 0) -> bytes:
    """One ``NuObsValue``: physio id, state, unit, FLOAT-Type."""
    return _u16(physio) + _u16(state) + _u16(unit) + _u32(encode_float(value))


@dataclass(frozen=True, slots=True)
class Observation:
    """One polled object: its handle and its attributes (id -> raw value)."""

    handle: int
    attributes: Mapping[int, bytes]


def numeric_observation(
    handle: int,
    signal: str,
    value: float | None,
    *,
    state: int = 0,
    unit: int | None = None,
    time: float | None = None,
    utc_offset_h: float = 0.0,
) -> Observation:
    """A numeric object with one value (SpO2, pulse, PI)."""
    physio = SIGNAL_PHYSIO[signal]
    attrs = {
        NOM_ATTR_ID_TYPE: _u16(NOM_PART_SCADA) + _u16(physio),
        NOM_ATTR_NU_VAL_OBS: nu_obs_value(physio, value, unit or DEFAULT_UNIT[signal], state),
    }
    if time is not None:
        attrs[NOM_ATTR_TIME_STAMP_ABS] = encode_abs_time(time, utc_offset_h)
    return Observation(handle, attrs)


def nibp_observation(
    handle: int,
    sbp: float | None,
    dbp: float | None,
    mean: float | None,
    *,
    state: int = 0,
    unit: int = NOM_DIM_MMHG,
    time: float | None = None,
    utc_offset_h: float = 0.0,
) -> Observation:
    """The NIBP compound numeric (sys, dia, mean) with its measurement time."""
    values = (
        nu_obs_value(NOM_PRESS_BLD_NONINV_SYS, sbp, unit, state)
        + nu_obs_value(NOM_PRESS_BLD_NONINV_DIA, dbp, unit, state)
        + nu_obs_value(NOM_PRESS_BLD_NONINV_MEAN, mean, unit, state)
    )
    attrs = {
        NOM_ATTR_ID_TYPE: _u16(NOM_PART_SCADA) + _u16(NOM_PRESS_BLD_NONINV),
        NOM_ATTR_NU_CMPD_VAL_OBS: _u16(3) + _u16(len(values)) + values,
        NOM_ATTR_TIME_STAMP_ABS: encode_abs_time(time, utc_offset_h),
    }
    return Observation(handle, attrs)


def poll_reply(
    context: int,
    invoke_id: int,
    poll_number: int,
    observations: Sequence[Observation],
    *,
    rel_time: int = 0,
    abs_time: bytes = ABS_TIME_INVALID,
    sequence: int = 0,
    object_code: int = NOM_MOC_VMO_METRIC_NU,
    attr_group: int = 0,
    extended: bool = True,
    linked_state: int | None = None,
    linked_count: int = 0,
) -> bytes:
    """A (linked) extended or single poll reply carrying ``observations`` (simulator side)."""
    polls = b"".join(_u16(o.handle) + attribute_list(o.attributes.items()) for o in observations)
    context_poll = _u16(0) + _u16(len(observations)) + _u16(len(polls)) + polls
    info_list = _u16(1) + _u16(len(context_poll)) + context_poll
    reply = (
        _u16(poll_number)
        + (_u16(sequence) if extended else b"")
        + _u32(rel_time)
        + abs_time
        + _u16(NOM_PART_OBJ)
        + _u16(object_code)
        + _u16(attr_group)
        + info_list
    )
    action = NOM_ACT_POLL_MDIB_DATA_EXT if extended else NOM_ACT_POLL_MDIB_DATA
    result = _mds_object() + _u16(action) + _u16(len(reply)) + reply
    rors = _u16(invoke_id) + _u16(CMD_CONFIRMED_ACTION) + _u16(len(result)) + result
    if linked_state is None:
        return _data_export(context, RORS, rors)
    return _data_export(context, ROLRS, bytes((linked_state, linked_count & 0xFF)) + rors)


# --- parsing --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PollReply:
    poll_number: int
    rel_time: int
    abs_time: bytes
    object_code: int
    observations: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class PollRequest:
    action: int
    poll_number: int
    object_code: int
    attr_group: int
    period_s: float | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed user-data message.

    ``kind``: ``assoc_request``, ``assoc_accept``, ``refuse``,
    ``release_request``, ``release_response``, ``abort``, ``mds_create``,
    ``event_result``, ``poll_request``, ``poll_reply``, ``error`` or ``other``.
    """

    kind: str
    context: int = DEFAULT_CONTEXT
    invoke_id: int = 0
    reply: PollReply | None = None
    request: PollRequest | None = None
    managed_object: bytes = b""
    event_time: int = 0
    raw: bytes = field(default=b"", repr=False)


_SPDU_KINDS = {
    SPDU_CN: "assoc_request",
    SPDU_AC: "assoc_accept",
    SPDU_RF: "refuse",
    SPDU_FN: "release_request",
    SPDU_DN: "release_response",
    SPDU_AB: "abort",
}


def parse_message(user_data: bytes) -> Message:
    """Classify and parse one frame's user data. Raises :class:`Malformed`."""
    if not user_data:
        raise Malformed("empty user data")
    kind = _SPDU_KINDS.get(user_data[0])
    if kind is not None:
        return Message(kind, raw=user_data)
    r = _Reader(user_data)
    if r.u16() != SESSION_ID:
        raise Malformed("unknown session id")
    context = r.u16()
    ro_type = r.u16()
    r = r.sub(r.u16())
    if ro_type == ROIV:
        invoke, command = r.u16(), r.u16()
        body = r.sub(r.u16())
        if command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
            managed_object = body.take(6)
            event_time, event_type = body.u32(), body.u16()
            if event_type == NOM_NOTI_MDS_CREAT:
                return Message(
                    "mds_create",
                    context,
                    invoke,
                    managed_object=managed_object,
                    event_time=event_time,
                )
        elif command == CMD_CONFIRMED_ACTION:
            body.take(6 + 4)  # managed object, scope
            action = body.u16()
            arg = body.sub(body.u16())
            if action in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
                poll_number = arg.u16()
                arg.u16()  # partition
                object_code, group = arg.u16(), arg.u16()
                period = None
                if action == NOM_ACT_POLL_MDIB_DATA_EXT and arg.pos < arg.end:
                    ext = _read_attribute_list(arg)
                    if NOM_ATTR_TIME_PD_POLL in ext and len(ext[NOM_ATTR_TIME_PD_POLL]) == 4:
                        period = int.from_bytes(ext[NOM_ATTR_TIME_PD_POLL], "big") / 8000.0
                request = PollRequest(action, poll_number, object_code, group, period)
                return Message("poll_request", context, invoke, request=request)
        return Message("other", context, invoke)
    if ro_type in (RORS, ROLRS):
        if ro_type == ROLRS:
            r.take(2)  # linked id: state, count
        invoke, command = r.u16(), r.u16()
        body = r.sub(r.u16())
        if command == CMD_CONFIRMED_ACTION:
            body.take(6)
            action = body.u16()
            reply = body.sub(body.u16())
            if action in (NOM_ACT_POLL_MDIB_DATA, NOM_ACT_POLL_MDIB_DATA_EXT):
                return Message(
                    "poll_reply",
                    context,
                    invoke,
                    reply=_parse_poll_reply(reply, action == NOM_ACT_POLL_MDIB_DATA_EXT),
                )
        elif command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
            return Message("event_result", context, invoke)
        return Message("other", context, invoke)
    if ro_type == ROER:
        return Message("error", context, r.u16())
    raise Malformed(f"unknown remote operation type {ro_type}")


def _parse_poll_reply(r: _Reader, extended: bool) -> PollReply:
    poll_number = r.u16()
    if extended:
        r.u16()  # sequence number
    rel_time = r.u32()
    abs_time = r.take(8)
    r.u16()  # partition
    object_code = r.u16()
    r.u16()  # attribute group
    observations: list[Observation] = []
    contexts, length = r.u16(), r.u16()
    info = r.sub(length)
    for _ in range(contexts):
        info.u16()  # context id
        count, n = info.u16(), info.u16()
        polls = info.sub(n)
        for _ in range(count):
            handle = polls.u16()
            observations.append(Observation(handle, _read_attribute_list(polls)))
    return PollReply(poll_number, rel_time, abs_time, object_code, tuple(observations))


def _nu_values(attrs: Mapping[int, bytes]) -> list[tuple[int, int, int, int]]:
    """(physio, state, unit, raw FLOAT) from single and compound numeric attributes."""
    out = []
    single = attrs.get(NOM_ATTR_NU_VAL_OBS)
    if single is not None:
        out.append(struct.unpack(">HHHI", single[:10]) if len(single) >= 10 else None)
    compound = attrs.get(NOM_ATTR_NU_CMPD_VAL_OBS)
    if compound is not None:
        r = _Reader(compound)
        count = r.u16()
        sub = r.sub(r.u16())
        for _ in range(count):
            out.append(struct.unpack(">HHHI", sub.take(10)))
    if any(v is None for v in out):
        raise Malformed("short NuObsValue")
    return [v for v in out if v is not None]


class NumericExtractor:
    """Poll replies -> readings, with NIBP emitted once per measurement."""

    def __init__(
        self, source: str, options: Mapping[str, Any], rejected: Counter[str] | None = None
    ) -> None:
        self.source = source
        self.utc_offset_h = _number(options, "utc_offset_h", 0.0)
        if not -14 <= self.utc_offset_h <= 14:
            raise ValueError(
                f"intellivue option utc_offset_h must be -14..14, got {self.utc_offset_h}"
            )
        self.accept_demo_data = _bool(options.get("accept_demo_data", False))
        self.rejected: Counter[str] = Counter() if rejected is None else rejected
        #: Valid values deliberately not turned into readings (demo/test data).
        self.skipped: Counter[str] = Counter()
        self._last_nibp: tuple[Any, ...] | None = None
        self._warned_demo = False

    def readings(self, reply: PollReply, now: float | None) -> list[Reading]:
        out: list[Reading] = []
        nibp: list[Reading] = []
        nibp_key: list[Any] = []
        seen: set[str] = set()
        reply_time = decode_abs_time(reply.abs_time, self.utc_offset_h)
        for obs in reply.observations:
            try:
                values = _nu_values(obs.attributes)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            if not any(p in PHYSIO_SIGNALS for p, _, _, _ in values):
                continue
            when, stamp = self._time(obs.attributes, reply, reply_time, now)
            for physio, state, unit, raw in values:
                signal = PHYSIO_SIGNALS.get(physio)
                if signal is None or signal in seen:
                    continue
                seen.add(signal)
                reading = self._reading(signal, state, unit, raw, when)
                if reading is None:
                    continue
                if signal in NIBP_SIGNALS:
                    nibp.append(reading)
                    nibp_key.append((signal, reading.value, reading.flags, stamp))
                else:
                    out.append(reading)
        if nibp:
            key = tuple(nibp_key)
            if key != self._last_nibp:
                self._last_nibp = key
                out[:0] = nibp
        return out

    def _time(
        self,
        attrs: Mapping[int, bytes],
        reply: PollReply,
        reply_time: float | None,
        now: float | None,
    ) -> tuple[float | None, Any]:
        raw_abs = attrs.get(NOM_ATTR_TIME_STAMP_ABS)
        if raw_abs is not None:
            t = decode_abs_time(raw_abs, self.utc_offset_h)
            if t is not None:
                return t, raw_abs
        raw_rel = attrs.get(NOM_ATTR_TIME_STAMP_REL)
        if raw_rel is not None and len(raw_rel) == 4 and now is not None:
            ticks = int.from_bytes(raw_rel, "big")
            age = ((reply.rel_time - ticks) & 0xFFFFFFFF) / 8000.0
            return now - age, ticks
        return (reply_time if reply_time is not None else now), None

    def _reading(
        self, signal: str, state: int, unit: int, raw: int, when: float | None
    ) -> Reading | None:
        if state & MS_UNAVAILABLE:
            return None
        if state & (MS_DEMO_DATA | MS_TEST_DATA) and not self.accept_demo_data:
            self.skipped["demo_data"] += 1
            if not self._warned_demo:
                self._warned_demo = True
                log.warning(
                    "%s: monitor sends demo/test data; ignored (option accept_demo_data)",
                    self.source,
                )
            return None
        value = decode_float(raw)
        if value is None:
            return None
        factor = UNIT_FACTORS[signal].get(unit)
        if factor is None:
            self.rejected["unit"] += 1
            return None
        value = round(value * factor, 3)
        lo, hi = RANGES[signal]
        if not lo <= value <= hi:
            self.rejected["range"] += 1
            return None
        return Reading.of(
            signal, value, time=when, source=self.source, flags=flags_from_state(state)
        )


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def _number(options: Mapping[str, Any], key: str, default: float) -> float:
    try:
        value = float(options.get(key, default))
    except (TypeError, ValueError):
        raise ValueError(f"intellivue option {key} must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"intellivue option {key} must be a finite number")
    return value


def _positive(options: Mapping[str, Any], key: str, default: float) -> float:
    value = _number(options, key, default)
    if not value > 0:
        raise ValueError(f"intellivue option {key} must be positive, got {value}")
    return value


# --- passive decoder ------------------------------------------------------------
class IntelliVueDecoder:
    """Decode a captured byte stream from the monitor (poll replies -> readings).

    It does not talk: for live use the transport drives an
    :class:`IntelliVueSession`. Frames other than poll replies are skipped.
    """

    def __init__(self, source: str = "intellivue", options: Mapping[str, Any] | None = None):
        self.source = source
        self._frames = FrameReader()
        self.rejected: Counter[str] = self._frames.rejected
        self._numerics = NumericExtractor(source, options or {}, self.rejected)
        self.skipped = self._numerics.skipped

    def reset(self) -> None:
        """Forget a partial frame (the transport calls this after a reconnect)."""
        self._frames.reset()

    def feed(self, data: bytes, now: float | None = None) -> list[Reading]:
        out: list[Reading] = []
        for user_data in self._frames.feed(data):
            try:
                msg = parse_message(user_data)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            if msg.kind == "poll_reply" and msg.reply is not None:
                out.extend(self._numerics.readings(msg.reply, now))
        return out


# --- the host session -----------------------------------------------------------
#: The monitor accepts at most this many frames per window from the host.
MAX_FRAMES_PER_WINDOW = 4
FRAME_WINDOW_S = 0.128
_MAX_QUEUED = 16


class IntelliVueSession:
    """The host side of the data export session, as a pure state machine.

    States: ``idle`` (waiting to (re)associate), ``associating``,
    ``awaiting_mds``, ``polling``, ``released``. Time comes only from the
    ``now`` arguments (epoch or monotonic seconds, consistently).
    """

    def __init__(self, source: str = "intellivue", options: Mapping[str, Any] | None = None):
        opts = options or {}
        self.source = source
        self.poll_interval_s = _positive(opts, "poll_interval_s", 1.0)
        self.keepalive_s = _positive(opts, "keepalive_s", 5.0)
        self.silence_s = _positive(opts, "silence_s", 10.0)
        self.association_timeout_s = _positive(opts, "association_timeout_s", 5.0)
        self.reassociate_delay_s = _positive(opts, "reassociate_delay_s", 2.0)
        if self.silence_s <= min(self.poll_interval_s, self.keepalive_s):
            raise ValueError(
                f"intellivue option silence_s ({self.silence_s}) must be longer than "
                f"poll_interval_s or keepalive_s ({self.poll_interval_s}, {self.keepalive_s})"
            )
        self._frames = FrameReader()
        self.rejected: Counter[str] = self._frames.rejected
        self._numerics = NumericExtractor(source, opts, self.rejected)
        #: What happened, by name (associated, abort_received, silence, ...).
        self.events: Counter[str] = Counter()
        self._timeouts_at_success = 0
        self._queue: deque[bytes] = deque()
        self._sent: deque[float] = deque(maxlen=MAX_FRAMES_PER_WINDOW)
        self.reset()

    # -- public API
    def reset(self) -> None:
        """Forget the association (call after (re)opening the port)."""
        self._frames.reset()
        self.state = "idle"
        self.context = DEFAULT_CONTEXT
        self._not_before: float | None = None
        self._deadline = 0.0
        self._next_poll = 0.0
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._invoke = 0
        self._poll_number = 0
        self._queue.clear()

    @property
    def associated(self) -> bool:
        return self.state == "polling"

    def feed(
        self, data: bytes, now: float, stamp: float | None = None
    ) -> tuple[list[Reading], bytes]:
        """Bytes from the monitor -> (readings, bytes to write to the monitor).

        ``now`` drives the timers (real seconds: the monitor's limits are real
        time); ``stamp`` (default ``now``) is the epoch receive time given to
        readings without a time of their own. A transport on a sped-up demo
        clock passes ``time.monotonic()`` and ``clock.now()``.
        """
        readings: list[Reading] = []
        for user_data in self._frames.feed(data):
            self._last_rx = now
            try:
                msg = parse_message(user_data)
            except Malformed:
                self.rejected["malformed"] += 1
                continue
            readings.extend(self._on_message(msg, now, now if stamp is None else stamp))
        return readings, self._drain(now)

    def on_timer(self, now: float) -> bytes:
        """Time passed: (re)associate, poll, keep alive, detect silence."""
        if self.state == "idle":
            if self._not_before is None or now >= self._not_before:
                self._associate(now)
        elif self.state == "associating":
            if now >= self._deadline:
                self.events["association_timeout"] += 1
                failures = self.events["association_timeout"] - self._timeouts_at_success
                log.log(
                    logging.WARNING if failures == 1 or failures % 12 == 0 else logging.DEBUG,
                    "%s: no association response within %.0f s (%d tries); retrying. Check "
                    "the cable, 115200 8N1 without flow control, and that the monitor's "
                    "MIB/RS232 port is set to data export",
                    self.source,
                    self.association_timeout_s,
                    failures,
                )
                # the monitor may still hold a stale association of ours: abort it first
                self._associate(now, abort_first=True)
        elif self.state == "awaiting_mds":
            if now >= self._deadline:
                self.events["mds_timeout"] += 1
                log.warning("%s: no MDS Create Event Report; aborting to start over", self.source)
                self._drop(now, send_abort=True)
        elif self.state == "polling":
            if now - self._last_rx >= self._silence_limit():
                self.events["silence"] += 1
                log.warning(
                    "%s: monitor silent for %.1f s; aborting and re-associating",
                    self.source,
                    now - self._last_rx,
                )
                self._drop(now, send_abort=True)
            elif now >= self._next_poll:
                self._next_poll = max(self._next_poll + self.poll_interval_s, now)
                self._send(
                    extended_poll_request(self.context, self._next_invoke(), self._next_poll_no()),
                    now,
                )
            elif now - self._last_tx >= self.keepalive_s and not self._queue:
                self.events["keepalive"] += 1
                log.debug("%s: keep-alive", self.source)
                self._send(
                    keepalive_request(self.context, self._next_invoke(), self._next_poll_no()), now
                )
        return self._drain(now)

    def next_timer(self, now: float) -> float:
        """Seconds until ``on_timer`` has something to do (0 if now)."""
        due: list[float] = []
        if self._queue:
            due.append(self._sent[0] + FRAME_WINDOW_S if len(self._sent) == 4 else now)
        if self.state == "idle":
            due.append(now if self._not_before is None else self._not_before)
        elif self.state in ("associating", "awaiting_mds"):
            due.append(self._deadline)
        elif self.state == "polling":
            due += [
                self._next_poll,
                self._last_rx + self._silence_limit(),
                self._last_tx + self.keepalive_s,
            ]
        return max(0.0, min(due) - now) if due else 1.0

    def close(self, now: float) -> bytes:
        """Release the association (write the result before closing the port)."""
        if self.state in ("associating", "awaiting_mds", "polling"):
            self._send(RELEASE_REQUEST, now)
        self.state = "released"
        return self._drain(now, force=True)

    # -- internals
    def _on_message(self, msg: Message, now: float, stamp: float) -> list[Reading]:
        kind = msg.kind
        if kind == "assoc_accept":
            if self.state == "associating":
                self.state = "awaiting_mds"
                self._deadline = now + self.association_timeout_s
                period = parse_min_poll_period(msg.raw)
                if period is not None and period > self.poll_interval_s:
                    log.info("%s: monitor's minimum poll period is %.1f s", self.source, period)
                    self.poll_interval_s = period
                log.info("%s: association accepted", self.source)
        elif kind == "mds_create":
            self.context = msg.context
            self._send(
                mds_create_result(msg.context, msg.invoke_id, msg.managed_object, msg.event_time),
                now,
            )
            if self.state in ("associating", "awaiting_mds"):
                self.state = "polling"
                self._next_poll = now
                self.events["associated"] += 1
                self._timeouts_at_success = self.events["association_timeout"]
                log.info(
                    "%s: associated; polling numerics every %.1f s",
                    self.source,
                    self.poll_interval_s,
                )
        elif kind == "poll_reply" and msg.reply is not None:
            return self._numerics.readings(msg.reply, stamp)
        elif kind == "abort":
            self.events["abort_received"] += 1
            log.warning("%s: monitor aborted the association; re-associating", self.source)
            self._drop(now, send_abort=False)
        elif kind == "refuse":
            self.events["refused"] += 1
            log.warning("%s: monitor refused the association; retrying", self.source)
            self._drop(now, send_abort=False)
        elif kind == "release_request":
            self.events["release_received"] += 1
            log.warning("%s: monitor released the association; re-associating", self.source)
            self._drop(now, send_abort=False)
            self._send(RELEASE_RESPONSE, now)
        elif kind == "error":
            self.events["remote_error"] += 1
            log.debug("%s: remote operation error (invoke %d)", self.source, msg.invoke_id)
        return []

    def _associate(self, now: float, abort_first: bool = False) -> None:
        self._queue.clear()
        if abort_first:
            self._send(ABORT, now)
        self._send(association_request(self.poll_interval_s), now)
        self.state = "associating"
        self._deadline = now + self.association_timeout_s
        log.info("%s: association request sent", self.source)

    def _drop(self, now: float, *, send_abort: bool) -> None:
        self._queue.clear()
        if send_abort:
            self._send(ABORT, now)
        self.state = "idle"
        self._not_before = now + self.reassociate_delay_s

    def _send(self, user_data: bytes, now: float) -> None:
        if len(self._queue) >= _MAX_QUEUED:
            self._queue.popleft()
            self.events["dropped_outgoing"] += 1
        self._queue.append(encode_frame(user_data))

    def _drain(self, now: float, force: bool = False) -> bytes:
        out = bytearray()
        while self._queue and (
            force
            or len(self._sent) < MAX_FRAMES_PER_WINDOW
            or now - self._sent[0] >= FRAME_WINDOW_S
        ):
            self._sent.append(now)
            out += self._queue.popleft()
        if out:
            self._last_tx = now
        return bytes(out)

    def _silence_limit(self) -> float:
        # the monitor may impose a longer poll period than configured
        # and one lost reply must not end the association
        return max(self.silence_s, 2.5 * min(self.poll_interval_s, self.keepalive_s))

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0xFFFF
        return self._invoke

    def _next_poll_no(self) -> int:
        self._poll_number = (self._poll_number + 1) & 0xFFFF
        return self._poll_number


def run_session(
    port: Any,
    session: IntelliVueSession,
    on_reading: Callable[[Reading], None],
    should_stop: Callable[[], bool],
    now: Callable[[], float],
    tick_s: float = 0.05,
) -> None:
    """Drive ``session`` over an open pyserial port until ``should_stop()``.

    A minimal shell for bench checks and tests (the agent uses
    :class:`drivers.transport.DeviceLink`); it releases the association on the
    way out.
    """
    port.timeout = tick_s
    try:
        while not should_stop():
            data = port.read(port.in_waiting or 1)
            t = now()
            if data:
                readings, out = session.feed(data, t)
                for r in readings:
                    on_reading(r)
                if out:
                    port.write(out)
            out = session.on_timer(now())
            if out:
                port.write(out)
    finally:
        out = session.close(now())
        if out:
            port.write(out)
            port.flush()


DRIVER = DriverSpec(
    name="intellivue",
    description="Philips IntelliVue MIB/RS232 data export (NIBP, SpO2, pulse, PI), 115200 8N1, "
    "session protocol (association + polls)",
    decoder=lambda source, options: IntelliVueDecoder(source, options),
    session=lambda source, options: IntelliVueSession(source, options),
    baudrate=115200,
    max_quiet_s=10.0,
)
