"""HL7 v2.6 messages of the IHE PCD profiles, built from capleak's MQTT payloads (pure).

Two transactions of the IHE Patient Care Device Technical Framework, Volume 2
(PCD TF-2, rev. 9.0, 2019; section numbers below are of that revision):

**PCD-01 Communicate PCD Data** (profile DEC, section 3.1): ``ORU^R01^ORU_R01``::

    MSH  header; MSH-21 = IHE_PCD_001 (the DEC profile's OID 1.3.6.1.4.1.19376.1.6.1.1.1)
    PID  patient: empty on purpose (capleak carries no patient identifier, see below)
    PV1  PV1-3 = the bed as the point of care: UNIT^^BED^SITE
    OBR  OBR-4 = 182777000^monitoring of patient^SCT, OBR-7 = the batch's first time
    OBX  one MDS row per device (``69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC``, OBX-4 n.0.0.0,
         OBX-11 X, OBX-18 the device id), then one NM row per value: OBX-3 the IEEE 11073
         MDC code (``150456^MDC_PULS_OXIM_SAT_O2^MDC``), OBX-4 the containment
         MDS.VMD.CHAN.METRIC (``n.1.1.k``), OBX-5 the value, OBX-6 the MDC unit with its UCUM
         code as the alternate (``262688^MDC_DIM_PERCENT^MDC^%^%^UCUM``), OBX-11 R,
         OBX-14 the observation time, OBX-18 the device id.

**PCD-04 Report Alert** (profile ACM, section 3.4): ``ORU^R40^ORU_R40``, one per alert event::

    MSH  header; MSH-21 = IHE_PCD_ACM_001 (1.3.6.1.4.1.19376.1.6.4.4)
    PID  empty, PV1 the bed (as above)
    OBR  OBR-2/3 the alert's identity (alert_id), OBR-4 = 196616^MDC_EVT_ALARM^MDC,
         OBR-7 the alert's start (``since``), OBR-8 its end (phase end only)
    OBX  .1  alert type: the MDC event code, with capleak's code as the CWE alternate
             (``196674^MDC_EVT_LO_VAL_LT_LIM^MDC^desaturation^desaturation^99CAPLEAK``);
             OBX-5 the message text, OBX-8 priority ~ kind (``PH~SP``)
         .2  source: the monitored metric with its value, unit and limit in OBX-7 (``>90``),
             or ``68480^MDC_ATTR_ALERT_SOURCE^MDC`` with the source id when no value applies
         .3  68481^MDC_ATTR_EVENT_PHASE^MDC     start | continue | update | escalate | ...
         .4  68482^MDC_ATTR_ALARM_STATE^MDC     inactive | active | latched
         .5  68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC  enabled | audio-paused |
             alert-acknowledged
         .6  68484^MDC_ATTR_ALARM_PRIORITY^MDC  PH | PM | PL
         .7  68485^MDC_ATTR_ALERT_TYPE^MDC      SP | ST | SA

No patient identity: topics and payloads identify beds only
(``shared/docs/messaging-and-ops.md``), so PID carries nothing and the receiving system
binds the bed (PV1-3) to its admitted patient, as it does for an unbound monitor.

Times are HL7 DTM in UTC (``YYYYMMDDHHMMSS.SSSS+0000``). Text taken from payloads is
escaped (HL7 v2.6 section 2.7.4: ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``) and cut to
:data:`TEXT_MAX` characters. Event codes: ``MDC_EVT_LO_VAL_LT_LIM`` 196674
(``messaging-and-ops.md``), ``MDC_EVT_HI_VAL_GT_LIM`` 196652 (the same term's high
side), ``MDC_EVT_ALARM`` 196616 for the alerts that have no single-limit code; the
capleak code always travels as the alternate identifier so nothing is lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from edge.vocabulary import SIGNALS, parse_time

SEGMENT_END = "\r"
#: An OBX-5 text or OBR text from a payload is cut to this many characters (HL7 v2.6 ST
#: fields hold 199; alert messages are one sentence).
TEXT_MAX = 199

PCD01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
PCD04_PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"
MONITORING = "182777000^monitoring of patient^SCT"
MDS_ROW = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"
LOCAL_CODES = "99CAPLEAK"

#: UCUM unit -> MDC unit (IEEE 11073-10101 dimension codes), both sent in OBX-6.
MDC_UNITS: Mapping[str, tuple[int, str]] = {
    "%": (262688, "MDC_DIM_PERCENT"),
    "mm[Hg]": (266016, "MDC_DIM_MMHG"),
    "/min": (264864, "MDC_DIM_BEAT_PER_MIN"),
    "kg": (263875, "MDC_DIM_KILO_G"),
}

EVT_ALARM = (196616, "MDC_EVT_ALARM")
EVT_LO = (196674, "MDC_EVT_LO_VAL_LT_LIM")
EVT_HI = (196652, "MDC_EVT_HI_VAL_GT_LIM")


@dataclass(frozen=True, slots=True)
class AlertCoding:
    """How one capleak alert code is reported: its MDC event, the metric it watches."""

    event: tuple[int, str]
    signal: str | None = None  # the monitored signal (OBX .2), if one applies
    value_key: str | None = None  # the key of the alert's ``values`` holding its value
    side: str | None = None  # "low" / "high": which side of the limit is normal


#: capleak alert code -> PCD-04 coding. Unknown codes fall back to MDC_EVT_ALARM.
ALERT_CODING: Mapping[str, AlertCoding] = {
    "hypotension": AlertCoding(EVT_LO, "sbp", "sbp", "low"),
    "desaturation": AlertCoding(EVT_LO, "spo2", "spo2", "low"),
    "tachycardia": AlertCoding(EVT_HI, "pulse", "pulse", "high"),
    "bp_falling": AlertCoding(EVT_ALARM, "sbp", "sbp_level"),
    "spo2_falling": AlertCoding(EVT_ALARM, "spo2", "spo2_level"),
    "weight_gain": AlertCoding(EVT_ALARM, "weight", "weight"),
}

#: capleak priority -> ACM priority (PCD TF-2 section 3.4.4, OBX-8 / 68484).
PRIORITY = {"high": "PH", "medium": "PM", "low": "PL"}
#: capleak kind -> ACM alert type (SP physiological, ST technical, SA advisory).
KIND = {"physiological": "SP", "technical": "ST", "advisory": "SA"}
#: capleak inactivation -> ACM inactivation state (68483).
INACTIVATION = {
    "enabled": "enabled",
    "audio-paused": "audio-paused",
    "acknowledged": "alert-acknowledged",
}


def escape(text: str, limit: int = TEXT_MAX) -> str:
    r"""Text for an HL7 field: delimiters escaped, control characters dropped, cut to ``limit``.

    >>> escape("a|b^c&d~e\\f")
    'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f'
    """
    text = "".join(ch for ch in text if ch >= " " and ch != "\x7f")[:limit]
    out = []
    for ch in text:
        out.append(
            {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}.get(ch, ch)
        )
    return "".join(out)


def dtm(t: float) -> str:
    """Epoch seconds -> HL7 DTM in UTC with 1/10,000 s.

    >>> dtm(1767225600.25)
    '20260101000000.2500+0000'
    """
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%Y%m%d%H%M%S") + f".{dt.microsecond // 100:04d}+0000"


def number(v: float) -> str:
    """An NM value: no exponent, no trailing zeros.

    >>> number(97.0), number(36.55), number(1e-7)
    ('97', '36.55', '0.0000001')
    """
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {v!r}")
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return format(Decimal(repr(v)), "f")


def point_of_care(bed: str) -> str:
    """``site/unit/bed`` -> PV1-3 (PL): ``UNIT^^BED^SITE``.

    >>> point_of_care("h1/icu/b3")
    'icu^^b3^h1'
    """
    site, unit, bed_id = bed.split("/")
    return f"{escape(unit)}^^{escape(bed_id)}^{escape(site)}"


@dataclass(frozen=True, slots=True)
class Header:
    """MSH fields the gateway fills (MSH-3..6)."""

    sending_app: str = "CAPLEAK"
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""


def _msh(h: Header, now: float, msg_type: str, control_id: str, profile: str) -> str:
    # MSH-15 NE / MSH-16 AL: no accept acknowledgement, always an application one
    # (PCD TF-2 section 2.1, "Acknowledgement modes": original mode).
    return (
        f"MSH|^~\\&|{escape(h.sending_app)}|{escape(h.sending_facility)}|"
        f"{escape(h.receiving_app)}|{escape(h.receiving_facility)}|{dtm(now)}||{msg_type}|"
        f"{escape(control_id)}|P|2.6|||NE|AL||UNICODE UTF-8|||{profile}"
    )


def _time_of(item: Mapping[str, Any], fallback: str) -> float:
    return parse_time(str(item.get("time") or fallback))


def pcd01(
    bed: str, vitals: Mapping[str, Any], *, control_id: str, now: float, header: Header = Header()
) -> str:
    """One ``vitals`` payload (schema-valid) -> one PCD-01 message."""
    readings: Sequence[Mapping[str, Any]] = vitals["readings"]
    fallback = str(vitals["time"])
    first = min(_time_of(r, fallback) for r in readings)
    segs = [
        _msh(header, now, "ORU^R01^ORU_R01", control_id, PCD01_PROFILE),
        "PID|",
        f"PV1||I|{point_of_care(bed)}",
        f"OBR|1|{escape(control_id)}^{escape(header.sending_app)}||{MONITORING}|||{dtm(first)}",
    ]
    devices: dict[str, list[Mapping[str, Any]]] = {}
    for r in readings:
        devices.setdefault(str(r["source"]), []).append(r)
    n = 0
    for mds, (source, rows) in enumerate(devices.items(), start=1):
        n += 1
        segs.append(f"OBX|{n}||{MDS_ROW}|{mds}.0.0.0|||||||X|||||||{escape(source)}")
        for metric, r in enumerate(rows, start=1):
            n += 1
            info = SIGNALS[r["signal"]]
            mdc_unit, mdc_unit_name = MDC_UNITS[info.unit.value]
            ucum = escape(info.unit.value)
            segs.append(
                f"OBX|{n}|NM|{info.mdc_code}^{info.mdc_refid}^MDC|{mds}.1.1.{metric}|"
                f"{number(float(r['value']))}|{mdc_unit}^{mdc_unit_name}^MDC^{ucum}^{ucum}^UCUM|"
                f"||||R|||{dtm(_time_of(r, fallback))}|||||||{escape(source)}"
            )
    return SEGMENT_END.join(segs) + SEGMENT_END


def _limit(values: Mapping[str, Any], side: str | None) -> str:
    limit = values.get("limit")
    if side is None or isinstance(limit, bool) or not isinstance(limit, int | float):
        return ""
    return (">" if side == "low" else "<") + number(float(limit))


def pcd04(
    bed: str,
    event: Mapping[str, Any],
    *,
    control_id: str,
    now: float,
    phase: str | None = None,
    header: Header = Header(),
) -> str:
    """One alert event (the ``alert`` object of an ``alerts`` payload) -> one PCD-04 message.

    ``phase`` overrides the event's own (the gateway's ``continue`` re-sends).
    """
    code = str(event["code"])
    coding = ALERT_CODING.get(code, AlertCoding(EVT_ALARM))
    phase = phase or str(event["phase"])
    values: Mapping[str, Any] = event.get("values") or {}
    prio = PRIORITY[str(event["priority"])]
    kind = KIND[str(event["kind"])]
    flags = f"{prio}~{kind}"
    since = parse_time(str(event["since"]))
    event_time = parse_time(str(event.get("event_time") or event["since"]))
    alert_id = escape(str(event["alert_id"]))
    ended = dtm(event_time) if phase == "end" else ""
    segs = [
        _msh(header, now, "ORU^R40^ORU_R40", control_id, PCD04_PROFILE),
        "PID|",
        f"PV1||I|{point_of_care(bed)}",
        f"OBR|1|{alert_id}^{escape(header.sending_app)}|{alert_id}^{escape(header.sending_app)}|"
        f"{EVT_ALARM[0]}^{EVT_ALARM[1]}^MDC|||{dtm(since)}" + (f"|{ended}" if ended else ""),
    ]
    sub = "1.1.1.1"  # the alert's containment: one MDS (the bed's agent), one alert row
    evt_code, evt_name = coding.event
    local = escape(code)
    segs.append(
        f"OBX|1|ST|{evt_code}^{evt_name}^MDC^{local}^{local}^{LOCAL_CODES}|{sub}.1|"
        f"{escape(str(event.get('message', '')))}|||{flags}|||R|||{dtm(event_time)}"
    )
    value = values.get(coding.value_key) if coding.value_key else None
    source = escape(str(event.get("source") or "capleak"))
    if coding.signal and isinstance(value, int | float) and not isinstance(value, bool):
        info = SIGNALS[coding.signal]
        mdc_unit, mdc_unit_name = MDC_UNITS[info.unit.value]
        ucum = escape(info.unit.value)
        segs.append(
            f"OBX|2|NM|{info.mdc_code}^{info.mdc_refid}^MDC|{sub}.2|{number(float(value))}|"
            f"{mdc_unit}^{mdc_unit_name}^MDC^{ucum}^{ucum}^UCUM|{_limit(values, coding.side)}|"
            f"{flags}|||R|||{dtm(event_time)}|||||||{source}"
        )
    else:
        segs.append(
            f"OBX|2|ST|68480^MDC_ATTR_ALERT_SOURCE^MDC|{sub}.2|{source}||||||R|||{dtm(event_time)}"
        )
    state = str(event["state"])
    inactivation = INACTIVATION[str(event["inactivation"])]
    for n, (obs, value_text) in enumerate(
        (
            ("68481^MDC_ATTR_EVENT_PHASE^MDC", phase),
            ("68482^MDC_ATTR_ALARM_STATE^MDC", state),
            ("68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC", inactivation),
            ("68484^MDC_ATTR_ALARM_PRIORITY^MDC", prio),
            ("68485^MDC_ATTR_ALERT_TYPE^MDC", kind),
        ),
        start=3,
    ):
        segs.append(f"OBX|{n}|ST|{obs}|{sub}.{n}|{escape(value_text)}||||||R")
    return SEGMENT_END.join(segs) + SEGMENT_END


@dataclass(frozen=True, slots=True)
class Ack:
    """The receiver's answer: MSA-1 (AA/AE/AR or CA/CE/CR), MSA-2, its text."""

    code: str
    control_id: str
    text: str = ""
    message_type: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def parse_ack(text: str) -> Ack:
    """An ``ACK`` or ``ORA^R41`` message -> :class:`Ack` (``ValueError`` if it is neither).

    Parsed with the ``hl7`` library, which reads the encoding characters from MSH-2 and
    accepts ``\\r``, ``\\n`` or ``\\r\\n`` between segments.

    >>> parse_ack("MSH|^~\\\\&|AM||CAPLEAK||20260101000000||ACK^R40^ACK|9|P|2.6\\rMSA|AA|c-1\\r")
    Ack(code='AA', control_id='c-1', text='', message_type='ACK^R40^ACK')
    """
    import hl7  # the `gateway` extra: only the gateway reads HL7

    cleaned = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not cleaned.startswith("MSH"):
        raise ValueError("not an HL7 message (no MSH)")
    try:
        msg = hl7.parse(cleaned)
        msa = msg.segment("MSA")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"no MSA segment: {e}") from None
    msh = msg.segment("MSH")
    msg_type = str(msh(9)) if len(msh) > 9 else ""
    code = str(msa(1)) if len(msa) > 1 else ""
    control = str(msa(2)) if len(msa) > 2 else ""
    note = str(msa(3)) if len(msa) > 3 else ""
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise ValueError(f"MSA-1 is not an acknowledgement code: {code[:16]!r}")
    return Ack(code, control, note, msg_type)
