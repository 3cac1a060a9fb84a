"""The IntelliVue driver on a real monitor's session, read by reference (never copied here).

``/work/shared/data/intellivue-intellipy/`` (its README): fifteen messages a real
IntelliVue (M8000 rack, demo mode) sent to a data-export client over LAN/UDP, from the
public jaj42/intellipy capture. A LAN capture has no RS232 framing: each message is
wrapped in it here, as the README says, and fed to the passive decoder and to the
live session.
"""

from __future__ import annotations

import pytest

from drivers.intellivue.framing import encode_frame
from drivers.intellivue.messages import parse_message, parse_min_poll_period
from drivers.intellivue.session import IntelliVueDecoder, IntelliVueSession
from edge.vocabulary import SIGNALS, parse_time
from tests.support import shared_data

DATA = shared_data("intellivue-intellipy") / "monitor-to-host.hex"
NOW = 1.7e9

pytestmark = pytest.mark.skipif(
    not DATA.exists(), reason=f"the real IntelliVue session is not here: {DATA}"
)


def messages() -> list[bytes]:
    lines = DATA.read_text().splitlines()
    return [bytes.fromhex(s) for s in (line.strip() for line in lines) if s and s[0] != "#"]


def stream() -> bytes:
    return b"".join(encode_frame(m) for m in messages())


def test_every_message_parses() -> None:
    kinds = [parse_message(m).kind for m in messages()]
    assert len(kinds) == 15
    assert kinds[:2] == ["assoc_accept", "mds_create"] and kinds.count("poll_reply") == 11
    # The association response echoes the client's 40 s minimum poll period (README).
    assert parse_min_poll_period(messages()[0]) == 40.0


def test_demo_mode_values_are_skipped_by_default() -> None:
    """Every numeric carries DEMO_DATA: a live bed must never take them for a patient's."""
    d = IntelliVueDecoder("iv")
    assert d.feed(stream(), now=NOW) == []
    assert d.skipped["demo_data"] > 0 and not d.rejected and d.frames == 15


def test_decoded_values_are_what_the_readme_says() -> None:
    d = IntelliVueDecoder("iv", {"accept_demo_data": True})
    out = d.feed(stream(), now=NOW)
    assert not d.rejected and d.frames == 15
    got = [(r.signal, r.value, r.unit) for r in out]
    # NIBP 120/80 (90) mmHg, in two replies: one measurement, emitted once, at its own time.
    nibp = [r for r in out if r.signal in ("sbp", "dbp", "map")]
    assert [(r.signal, r.value) for r in nibp] == [("sbp", 120.0), ("dbp", 80.0), ("map", 90.0)]
    assert {r.time for r in nibp} == {parse_time("2017-11-04T14:45:00Z")}
    assert all(r.unit == "mm[Hg]" for r in nibp)
    # SpO2 95 %, pleth pulse 60 /min and relative perfusion 10.0, in three replies each.
    assert got.count(("spo2", 95.0, "%")) == 3
    assert got.count(("pulse", 60.0, "/min")) == 3
    assert [v for s, v, _ in got if s == "pi"] == [10.0] * 3
    # Not ABP, ABP pulse, NIBP pulse, ECG HR or respiration: signals capleak does not use.
    assert {s for s, _, _ in got} == {"sbp", "dbp", "map", "spo2", "pulse", "pi"}
    # The replies carry no absolute time: those readings take the receive time.
    assert {r.time for r in out if r.signal in ("spo2", "pulse", "pi")} == {NOW}


def test_relative_perfusion_keeps_its_code_and_says_what_it_is() -> None:
    """IntelliVue's Perf (NOM_PULS_OXIM_PERF_REL, dimensionless 0-10) goes out as ``pi``,
    value unchanged: the vocabulary says so, and the core reads only ``pi``'s flags."""
    info = SIGNALS["pi"]
    assert info.mdc_code == 2 * 65536 + 19376 and info.mdc_refid == "MDC_PULS_OXIM_PERF_REL"
    assert "IntelliVue" in info.description and "dimensionless" in info.description


def test_the_live_session_associates_and_decodes_it() -> None:
    s = IntelliVueSession("iv", {"accept_demo_data": True})
    s.reset()
    s.on_timer(0.0)  # sends the association request
    readings = []
    for i, m in enumerate(messages()):
        got, _ = s.feed(encode_frame(m), 0.01 * (i + 1), stamp=NOW)
        readings += got
    assert s.associated and s.events["associated"] == 1 and not s.rejected
    assert s.poll_interval_s == 40.0  # the monitor's minimum poll period is honoured
    assert [r.value for r in readings if r.signal == "spo2"] == [95.0] * 3
    assert [r.value for r in readings if r.signal == "sbp"] == [120.0]
