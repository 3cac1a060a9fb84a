"""The gateway's PCD-01 against published PCD-01 example messages, segment by segment.

``reference/*.hl7`` are two PCD-01 examples of the IHE PCD Technical Framework, with
their source in ``reference/README.md`` (a blood-pressure cuff, and an ICU monitor
gateway with PV1). Each rule below is read off *both* examples and then asserted of our
message: segment order, the field positions of MSH, OBR and OBX, the code systems
(MDC codes in OBX-3, MDC or UCUM units in OBX-6), the OBX-4 containment form, and, where
an example reports the same quantity as capleak (NIBP systolic, diastolic, mean; a rate
per minute), the very same code and unit. No published PCD-04 example was found
(``reference/README.md``), so PCD-04 is checked against the ACM rules in
``test_hl7v2.py`` only.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import hl7
import pytest

from edge.station.gateway import hl7v2
from tests.edge.station.gateway.support import T0
from tests.edge.station.gateway.test_hl7v2 import BED, VITALS, reading

REFERENCE = Path(__file__).parent / "reference"
EXAMPLES = ("pcd01-bp.hl7", "pcd01-icu.hl7")
DTM = re.compile(r"\d{14}(\.\d{1,4})?([+-]\d{4})?")
SUB_ID = re.compile(r"\d+(\.\d+){0,3}")


def fields(text: str) -> list[list[str]]:
    """Segments as field lists (index n = field n; MSH shifted so MSH[n] is MSH-n)."""
    out = []
    for line in text.replace("\r\n", "\r").replace("\n", "\r").strip("\r").split("\r"):
        f = line.split("|")
        out.append(["MSH", "|", *f[1:]] if f[0] == "MSH" else f)
    return out


def field(seg: list[str], n: int) -> str:
    return seg[n] if n < len(seg) else ""


def example(name: str) -> list[list[str]]:
    text = (REFERENCE / name).read_text("utf-8")
    hl7.parse(text.replace("\n", "\r"))  # a real HL7 message, not just lines
    return fields(text)


OURS = [
    reading("sbp", 120, "nibp", T0),
    reading("dbp", 80, "nibp", T0),
    reading("map", 100, "nibp", T0),
    reading("pulse", 60, "masimo", T0),
    reading("spo2", 97, "masimo", T0),
]


@pytest.fixture(scope="module")
def ours() -> list[list[str]]:
    vitals = {**VITALS, "readings": OURS}
    return fields(hl7v2.pcd01(BED, vitals, control_id="c1", now=T0 + 1))


def shape(segs: list[list[str]]) -> list[str]:
    """Segment ids with repeats collapsed: MSH PID PV1 OBR OBX."""
    return [k for k, _ in itertools.groupby(s[0] for s in segs)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_segment_order(name: str, ours: list[list[str]]) -> None:
    ex = example(name)
    assert shape(ex) in (["MSH", "PID", "PV1", "OBR", "OBX"], ["MSH", "PID", "OBR", "OBX"])
    # ours has the examples' order; PV1 (optional in ORU_R01) is always sent: the bed
    assert shape(ours) == ["MSH", "PID", "PV1", "OBR", "OBX"]
    assert [s for s in shape(ours) if s in shape(ex)] == shape(ex)


@pytest.mark.parametrize("name", EXAMPLES)
def test_msh_fields(name: str, ours: list[list[str]]) -> None:
    ex, us = example(name)[0], ours[0]
    for n in (1, 2, 9, 11, 12, 15, 16):  # separators, type, P, 2.6, NE / AL
        assert field(us, n) == field(ex, n), f"MSH-{n}"
    assert DTM.fullmatch(field(ex, 7)) and DTM.fullmatch(field(us, 7))
    # MSH-21: the profile identifier, an EI of four components, in the same place
    assert len(field(ex, 21).split("^")) == len(field(us, 21).split("^")) == 4
    assert field(us, 21).split("^")[2] == "1.3.6.1.4.1.19376.1.6.1.1.1"
    if name == "pcd01-bp.hl7":  # this copy carries the DEC profile's OID: the same as ours
        assert field(ex, 21).split("^")[2:] == field(us, 21).split("^")[2:]


@pytest.mark.parametrize("name", EXAMPLES)
def test_obr_fields(name: str, ours: list[list[str]]) -> None:
    ex = next(s for s in example(name) if s[0] == "OBR")
    us = next(s for s in ours if s[0] == "OBR")
    assert field(ex, 1) == field(us, 1) == "1"
    assert len(field(ex, 4).split("^")) == len(field(us, 4).split("^")) == 3  # code^text^system
    assert DTM.fullmatch(field(ex, 7)) and DTM.fullmatch(field(us, 7))  # OBR-7 the time
    assert field(ex, 2) and field(us, 2)  # OBR-2 placer id, EI with its namespace
    assert len(field(us, 2).split("^")) >= 2 and len(field(ex, 2).split("^")) >= 2


def numeric_rows(segs: list[list[str]]) -> list[list[str]]:
    return [s for s in segs if s[0] == "OBX" and field(s, 2) == "NM"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_numeric_obx_fields(name: str, ours: list[list[str]]) -> None:
    for segs in (example(name), ours):
        rows = numeric_rows(segs)
        assert rows
        for s in rows:
            code, refid, system = field(s, 3).split("^")[:3]  # OBX-3: MDC code
            assert code.isdigit() and refid.startswith("MDC_") and system == "MDC"
            assert SUB_ID.fullmatch(field(s, 4)) and field(s, 4).count(".") == 3  # OBX-4
            float(field(s, 5))  # OBX-5 the number
            unit = field(s, 6).split("^")
            assert unit[2] in ("MDC", "UCUM")  # OBX-6: MDC or UCUM coded unit
            assert field(s, 11) == "R"  # OBX-11
        assert [int(field(s, 1)) for s in segs if s[0] == "OBX"] == list(
            range(1, 1 + sum(s[0] == "OBX" for s in segs))
        )  # OBX-1 set ids 1..n


def test_the_same_quantities_have_the_same_codes_and_units(ours: list[list[str]]) -> None:
    """Where an example reports what capleak reports, code, name and unit are identical:
    NIBP from the blood-pressure example (MDC units); a rate per minute and mm[Hg] from
    the ICU example (UCUM units), which are our OBX-6's alternate components."""
    bp = {field(s, 3): field(s, 6) for s in numeric_rows(example("pcd01-bp.hl7"))}
    us = {field(s, 3): field(s, 6) for s in numeric_rows(ours)}
    nibp = [k for k in bp if "NONINV" in k]
    assert len(nibp) == 3
    for obx3 in nibp:
        assert obx3 in us, f"{obx3} of the example is not what we send for NIBP"
        assert us[obx3].split("^")[:3] == bp[obx3].split("^")  # MDC unit, first
    icu_units = {field(s, 6) for s in numeric_rows(example("pcd01-icu.hl7"))}
    assert icu_units == {"/min^/min^UCUM", "mm[Hg]^mm[Hg]^UCUM"}
    ours_alt = {"^".join(u.split("^")[3:6]) for u in us.values()}
    assert icu_units <= ours_alt  # UCUM unit, the alternate


@pytest.mark.parametrize("name", EXAMPLES)
def test_obx4_containment(name: str, ours: list[list[str]]) -> None:
    """OBX-4 is the dotted containment MDS.VMD.CHAN.METRIC: in both examples and ours,
    every metric row's path starts with an MDS number, and rows of one channel share
    their first three levels."""
    for segs in (example(name), ours):
        paths = [field(s, 4).split(".") for s in numeric_rows(segs)]
        assert all(len(p) == 4 and p[0] != "0" for p in paths)
        chans = itertools.groupby(paths, key=lambda p: p[:3])
        for _, rows in chans:
            metrics = [int(p[3]) for p in rows]
            assert metrics == list(range(metrics[0], metrics[0] + len(metrics)))
    # device rows (no value type): the device in OBX-18, where the example has it
    ex_dev = [s for s in example(name) if s[0] == "OBX" and not field(s, 2)]
    us_dev = [s for s in ours if s[0] == "OBX" and not field(s, 2)]
    assert all(not field(s, 5) for s in ex_dev + us_dev)
    assert all(field(s, 18) for s in us_dev)
    if ex_dev:
        assert field(ex_dev[0], 18)
