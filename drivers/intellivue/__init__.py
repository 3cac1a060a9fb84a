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
:mod:`drivers.intellivue.framing`. The host sends at most 4 frames per 128 ms.

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
PI also dimensionless 512. Perf is Philips' *relative* perfusion, a
dimensionless 0-10 index (a real monitor sends it with unit 512: the
reference session in ``tests/drivers/intellivue/test_real_session.py``), not
Masimo's PI in %: it is published under ``pi`` with its value unchanged
(``edge.vocabulary.SIGNALS``, where the mapping is documented); the core
reads only the flags of ``pi``.

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

Example frame
-------------
:data:`SAMPLE_POLL_REPLY` (the registry's ``sample_frame``), one framed
extended poll reply (RORS) carrying SpO2 97 % and pleth pulse 72 /min, reply
absolute time 2026-01-01 00:00:00, built from the layouts above (no recording
of a real monitor was available)::

    c0 11 01 00 70 | e1 00 00 02 00 02 00 68 | 00 01 00 07 00 62 | 00 21 00 00 00 00
    f1 3b 00 58 | 00 01 00 00 00 07 53 00 | 20 26 01 01 00 00 00 00 | 00 01 00 06 00 00
    00 01 00 3e 00 00 00 02 00 38 | 01 02 00 02 00 16 | 09 2f 00 04 00 02 4b b8
    09 50 00 0a 4b b8 00 00 02 20 00 00 00 61 | 01 03 00 02 00 16 09 2f 00 04 00 02 48 22
    09 50 00 0a 48 22 00 00 0a a0 00 00 00 48 | f7 bf c1

= BOF, header (length 0x70); session id, context 2, RORS, length; invoke id 1,
confirmed action; the MDS object; ``NOM_ACT_POLL_MDIB_DATA_EXT``; poll number 1,
sequence 0, relative time 480000 ticks (60 s); absolute time (BCD); numerics
polled, group 0; one context with two objects: handle 0x0102 (type
``NOM_PULS_OXIM_SAT_O2`` 0x4BB8, ``NuObsValue`` unit % 0x0220, FLOAT 97) and
handle 0x0103 (``NOM_PLETH_PULS_RATE`` 0x4822, /min 0x0AA0, FLOAT 72); FCS, EOF.

Modules
-------
- :mod:`~drivers.intellivue.nomenclature`: ids, units, measurement states.
- :mod:`~drivers.intellivue.codec`: FLOAT-Type, AbsoluteTime, binary primitives.
- :mod:`~drivers.intellivue.framing`: BOF/EOF framing, transparency, FCS.
- :mod:`~drivers.intellivue.messages`: association control and data export
  messages, built and parsed.
- :mod:`~drivers.intellivue.session`: the host session, the passive decoder,
  numerics -> readings.
- :mod:`~drivers.intellivue.simulator`: the monitor side (:class:`IntelliVueMonitor`),
  its simulator model and ``python -m drivers.intellivue.simulator``. Only the
  registry's ``model`` factory imports it, when asked: the live path does not.

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

from collections.abc import Mapping

from drivers.base import DriverSpec
from drivers.intellivue.session import IntelliVueDecoder, IntelliVueSession
from drivers.model import DeviceModel

#: One framed poll reply, SpO2 97 % and pulse 72 /min (see "Example frame" above).
SAMPLE_POLL_REPLY = bytes.fromhex(
    "c0 11 01 00 70 e1 00 00 02 00 02 00 68 00 01 00 07 00 62 00 21 00 00 00"
    "00 f1 3b 00 58 00 01 00 00 00 07 53 00 20 26 01 01 00 00 00 00 00 01 00"
    "06 00 00 00 01 00 3e 00 00 00 02 00 38 01 02 00 02 00 16 09 2f 00 04 00"
    "02 4b b8 09 50 00 0a 4b b8 00 00 02 20 00 00 00 61 01 03 00 02 00 16 09"
    "2f 00 04 00 02 48 22 09 50 00 0a 48 22 00 00 0a a0 00 00 00 48 f7 bf c1"
)


def _model(options: Mapping[str, str]) -> DeviceModel:
    from drivers.intellivue.simulator import IntelliVueModel  # simulator code: only when asked

    return IntelliVueModel(options)


DRIVER = DriverSpec(
    name="intellivue",
    description="Philips IntelliVue MIB/RS232 data export (NIBP, SpO2, pulse, PI), 115200 8N1, "
    "session protocol (association + polls)",
    decoder=lambda source, options: IntelliVueDecoder(source, options),
    signals=("sbp", "dbp", "map", "spo2", "pulse", "pi"),
    sample_frame=SAMPLE_POLL_REPLY,
    model=_model,
    session=lambda source, options: IntelliVueSession(source, options),
    baudrate=115200,
    max_quiet_s=10.0,
)
