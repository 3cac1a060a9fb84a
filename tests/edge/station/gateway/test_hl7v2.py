"""PCD-01 / PCD-04 messages: parsed by the ``hl7`` package, checked field by field against
the structure of the IHE PCD Technical Framework's examples, and against golden files.

The rules below are the PCD TF-2 structure, field by field: which segment comes where,
which field holds the code, the hierarchy, the unit, the status. PCD-01 is also compared
with two published PCD-01 example messages in ``test_reference_examples.py``; for PCD-04
no published framework example was found (``reference/README.md``), so the ACM rules
here are its only check. ``golden/*.hl7`` are this module's messages for fixed inputs
(segments on separate lines), reviewed against those rules once; a change to the
output shows up as a diff there.
"""

from __future__ import annotations

import re
from pathlib import Path

import hl7
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.station.gateway import hl7v2
from edge.vocabulary import SIGNALS, iso_time
from tests.edge.station.gateway.support import T0, segments

GOLDEN = Path(__file__).parent / "golden"
BED = "h1/icu/b3"


def reading(signal: str, value: float, source: str, t: float) -> dict:
    info = SIGNALS[signal]
    return {
        "signal": signal,
        "value": value,
        "unit": info.unit.value,
        "source": source,
        "flags": [],
        "mdc": info.mdc_code,
        "mdc_refid": info.mdc_refid,
        "time": iso_time(t),
    }


VITALS = {
    "msg_id": "m1",
    "seq": 5,
    "time": iso_time(T0 + 1),
    "readings": [
        reading("spo2", 97, "masimo", T0),
        reading("pulse", 88, "masimo", T0),
        reading("sbp", 118, "nibp", T0 - 30),
        reading("dbp", 74, "nibp", T0 - 30),
        reading("map", 89, "nibp", T0 - 30),
        reading("weight", 71.35, "scale", T0 - 60),
    ],
}
ALERT = {
    "alert_id": "a7",
    "code": "desaturation",
    "source": "",
    "priority": "high",
    "kind": "physiological",
    "state": "active",
    "inactivation": "enabled",
    "since": iso_time(T0),
    "message": "SpO2 88 % below 90 % (SatSeconds 120)",
    "values": {"spo2": 88.0, "limit": 90.0},
    "notifications": 1,
    "phase": "start",
    "event_time": iso_time(T0),
}
OFFLINE = {
    **ALERT,
    "alert_id": "a8",
    "code": "device_offline",
    "kind": "technical",
    "priority": "medium",
    "source": "masimo",
    "message": "no data for 30 s",
    "values": {"reason": "no data for 30 s"},
    "phase": "end",
    "state": "inactive",
    "inactivation": "acknowledged",
    "event_time": iso_time(T0 + 60),
}

MESSAGES = {
    "pcd01": lambda: hl7v2.pcd01(BED, VITALS, control_id="c0001", now=T0 + 2),
    "pcd04-start": lambda: hl7v2.pcd04(BED, ALERT, control_id="c0002", now=T0 + 2),
    "pcd04-end": lambda: hl7v2.pcd04(BED, OFFLINE, control_id="c0003", now=T0 + 61),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_golden(name: str) -> None:
    text = MESSAGES[name]()
    assert text.endswith("\r") and "\n" not in text
    assert text.replace("\r", "\n") == (GOLDEN / f"{name}.hl7").read_text("utf-8")


def _msh_rules(msh: list[str], msg_type: str, profile: str) -> None:
    # MSH-1/2 separators; MSH-9 the three-part type; MSH-12 2.6; MSH-15 NE, MSH-16 AL
    # (original-mode application acknowledgement); MSH-21 the profile's id and OID.
    assert msh[1] == "^~\\&"
    assert msh[8] == msg_type
    assert msh[11] == "2.6"
    assert (msh[14], msh[15]) == ("NE", "AL")
    assert msh[20] == profile
    assert re.fullmatch(r"\d{14}\.\d{4}\+0000", msh[6])


def test_pcd01_follows_the_dec_example_structure() -> None:
    segs = segments(MESSAGES["pcd01"]())
    names = "".join(s[0][0] for s in segs)  # M P P O O...: first letters
    assert [s[0] for s in segs[:4]] == ["MSH", "PID", "PV1", "OBR"]
    assert set(s[0] for s in segs[4:]) == {"OBX"} and names
    _msh_rules(segs[0], "ORU^R01^ORU_R01", hl7v2.PCD01_PROFILE)
    assert segs[2][3] == "icu^^b3^h1"  # PV1-3 point of care
    assert segs[3][4] == "182777000^monitoring of patient^SCT"  # OBR-4
    obx = segs[4:]
    assert [int(s[1]) for s in obx] == list(range(1, len(obx) + 1))  # OBX-1 set ids
    mds = [s for s in obx if s[4].endswith(".0.0.0")]
    metrics = [s for s in obx if not s[4].endswith(".0.0.0")]
    assert [s[18] for s in mds] == ["masimo", "nibp", "scale"]  # one MDS per device
    for s in mds:
        assert s[2] == "" and s[3] == hl7v2.MDS_ROW and s[11] == "X"
    units = {"%": "262688^MDC_DIM_PERCENT", "mm[Hg]": "266016^MDC_DIM_MMHG"}
    units |= {"/min": "264864^MDC_DIM_BEAT_PER_MIN", "kg": "263875^MDC_DIM_KILO_G"}
    for s, r in zip(metrics, VITALS["readings"], strict=True):
        info = SIGNALS[r["signal"]]
        assert s[2] == "NM" and s[11] == "R"
        assert s[3] == f"{info.mdc_code}^{info.mdc_refid}^MDC"
        u = info.unit.value
        assert s[6] == f"{units[u]}^MDC^{u}^{u}^UCUM"
        assert re.fullmatch(r"[1-9]\.1\.1\.[1-9]", s[4])  # MDS.VMD.CHAN.METRIC
        assert s[4].split(".")[0] == next(m[4][0] for m in mds if m[18] == r["source"])
        assert s[14] == hl7v2.dtm(T0 - {"masimo": 0, "nibp": 30, "scale": 60}[r["source"]])
    assert [s[5] for s in metrics] == ["97", "88", "118", "74", "89", "71.35"]


def test_pcd04_follows_the_acm_example_structure() -> None:
    for name, event in (("pcd04-start", ALERT), ("pcd04-end", OFFLINE)):
        segs = segments(MESSAGES[name]())
        assert [s[0] for s in segs] == ["MSH", "PID", "PV1", "OBR"] + ["OBX"] * 7
        _msh_rules(segs[0], "ORU^R40^ORU_R40", hl7v2.PCD04_PROFILE)
        obr = segs[3]
        assert obr[2].split("^")[0] == obr[3].split("^")[0] == event["alert_id"]
        assert obr[4] == "196616^MDC_EVT_ALARM^MDC"
        obx = segs[4:]
        assert [s[3].split("^")[0] for s in obx[2:]] == [
            "68481",
            "68482",
            "68483",
            "68484",
            "68485",
        ]
        assert [s[4] for s in obx] == [f"1.1.1.1.{i}" for i in range(1, 8)]
        assert obx[0][3].split("^")[3:] == [event["code"], event["code"], "99CAPLEAK"]
        assert obx[0][5] == event["message"]
    start = segments(MESSAGES["pcd04-start"]())
    assert start[4][3].startswith("196674^MDC_EVT_LO_VAL_LT_LIM^MDC")
    assert start[4][8] == "PH~SP"
    assert start[5][3] == "150456^MDC_PULS_OXIM_SAT_O2^MDC" and start[5][5] == "88"
    assert start[5][7] == ">90"  # the limit as the reference range
    assert [s[5] for s in start[6:]] == ["start", "active", "enabled", "PH", "SP"]
    end = segments(MESSAGES["pcd04-end"]())
    assert end[3][8] == hl7v2.dtm(T0 + 60)  # OBR-8: the alert's end
    assert end[5][3] == "68480^MDC_ATTR_ALERT_SOURCE^MDC" and end[5][5] == "masimo"
    assert [s[5] for s in end[6:]] == ["end", "inactive", "alert-acknowledged", "PM", "ST"]


def test_the_hl7_package_reads_them_back() -> None:
    for make in MESSAGES.values():
        msg = hl7.parse(make())
        assert str(msg.segment("MSH")(9)) in ("ORU^R01^ORU_R01", "ORU^R40^ORU_R40")
        assert len(msg.segments("OBX")) >= 7


@given(st.text(max_size=300))
def test_any_alert_text_survives_escaping(text: str) -> None:
    msg = hl7.parse(hl7v2.pcd04(BED, {**ALERT, "message": text}, control_id="c", now=T0))
    obx = msg.segments("OBX")[0]
    got = msg.unescape(str(obx(5)))
    kept = "".join(ch for ch in text if ch >= " " and ch != "\x7f")[: hl7v2.TEXT_MAX]
    assert got == kept
    assert len(msg.segments("OBX")) == 7  # no delimiter leaked into the structure


@pytest.mark.parametrize(
    ("text", "code", "ok"),
    [
        ("MSH|^~\\&|AM||CAPLEAK||20260101||ACK^R01^ACK|9|P|2.6\rMSA|AA|c1\r", "AA", True),
        ("MSH|^~\\&|AM||CAPLEAK||20260101||ORA^R41^ORA_R41|9|P|2.6\nMSA|CA|c1", "CA", True),
        ("MSH|^~\\&|AM||CAPLEAK||20260101||ACK|9|P|2.6\rMSA|AE|c1|bad OBX\r", "AE", False),
        ("MSH|^~\\&|AM||CAPLEAK||20260101||ACK|9|P|2.6\rMSA|AR|c1\r", "AR", False),
    ],
)
def test_acknowledgements(text: str, code: str, ok: bool) -> None:
    ack = hl7v2.parse_ack(text)
    assert (ack.code, ack.control_id, ack.accepted) == (code, "c1", ok)


@pytest.mark.parametrize(
    "text",
    ["", "hello", "MSH|^~\\&|AM||X||2026||ACK|9|P|2.6\r", "MSH|^~\\&|A||X||2|ACK|9\rMSA|ZZ|c"],
)
def test_garbage_is_no_acknowledgement(text: str) -> None:
    with pytest.raises(ValueError):
        hl7v2.parse_ack(text)
