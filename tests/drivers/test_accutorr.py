from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.accutorr import AccutorrAnswer, AccutorrDecoder, encode
from drivers.model import VitalState
from drivers.registry import get_driver
from drivers.simulator import make_model
from edge.vocabulary import Reading
from tests.drivers.helpers import decode

MANUAL = b"P:--,85,120, 45, 80,000,010,000, 5\r"


def sig(readings):
    return [(r.signal, r.value, r.time) for r in readings]


def test_manual_example_measurement_time_from_minutes() -> None:
    d = AccutorrDecoder("nibp")
    out = d.feed(MANUAL, now=10_000.0)
    assert sig(out) == [
        ("pulse", 85.0, 10_000.0),
        ("sbp", 120.0, 9_700.0),
        ("map", 45.0, 9_700.0),
        ("dbp", 80.0, 9_700.0),
    ]
    assert [r.unit for r in out] == ["/min", "mm[Hg]", "mm[Hg]", "mm[Hg]"]


def test_nibp_once_per_measurement_not_per_poll() -> None:
    d = AccutorrDecoder("nibp", {"spo2": False})
    polls = [
        (AccutorrAnswer(97, 70, 120, 90, 75, 0), 0.0),
        (AccutorrAnswer(97, 70, 120, 90, 75, 1), 60.0),
        (AccutorrAnswer(97, 70, 120, 90, 75, 14), 840.0),
        # same pressures, minutes went down: a new measurement
        (AccutorrAnswer(97, 70, 120, 90, 75, 0), 900.0),
        (AccutorrAnswer(97, 70, 110, 82, 70, 0), 930.0),  # pressures changed
        (AccutorrAnswer(97, 70, 110, 82, 70, 0), 940.0),
    ]
    out = [r for a, now in polls for r in d.feed(encode(a), now=now)]
    assert [(r.signal, r.value, r.time) for r in out if r.signal == "sbp"] == [
        ("sbp", 120.0, 0.0),
        ("sbp", 120.0, 900.0),
        ("sbp", 110.0, 930.0),
    ]
    assert not [r for r in out if r.signal in ("spo2", "pulse")]


def test_no_pressures_yet_and_dashes() -> None:
    d = AccutorrDecoder()
    out = d.feed(b"P:98,72,---,---,---,000,000,000,--\r\n", now=5.0)
    assert sig(out) == [("spo2", 98.0, 5.0), ("pulse", 72.0, 5.0)]


def test_malformed_answers_are_rejected_whole() -> None:
    d = AccutorrDecoder()
    bad = [
        b"P:98,72,120,90\r",
        b"X:98,72,120,90,75,000,000,000,1\r",
        b"P:98,7x,120,90,75,0,0,0,1\r",
        b"P:98,72,999,90,75,000,000,000,1\r",
        b"P:\xff\r",
    ]
    assert d.feed(b"".join(bad), now=1.0) == []
    assert d.rejected["malformed"] == len(bad)
    assert [r.signal for r in d.feed(MANUAL, now=1.0)] == ["pulse", "sbp", "map", "dbp"]


def test_reset_keeps_the_last_measurement() -> None:
    d = AccutorrDecoder(options={"spo2": False})
    assert d.feed(MANUAL, now=1.0)
    d.reset()
    assert d.feed(b"P:--,85,120, 4") == []
    d.reset()  # the partial line from before the gap is forgotten
    assert d.feed(MANUAL, now=2.0) == []  # same measurement: not repeated
    assert not d.rejected


def test_driver_polls() -> None:
    spec = get_driver("accutorr")
    assert spec.poll_command == b"P\r" and spec.poll_interval_s == 10.0


answers = st.builds(
    AccutorrAnswer,
    spo2=st.none() | st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    sbp=st.none() | st.integers(0, 300),
    map=st.none() | st.integers(0, 300),
    dbp=st.none() | st.integers(0, 300),
    minutes=st.none() | st.integers(0, 9999),
    status=st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999)),
)


@given(answers, st.floats(1e9, 2e9))
def test_round_trip(a: AccutorrAnswer, now: float) -> None:
    out = AccutorrDecoder().feed(encode(a), now=now)
    when = now - 60.0 * (a.minutes or 0)
    want = [(s, float(v), now) for s, v in (("spo2", a.spo2), ("pulse", a.pulse)) if v is not None]
    want += [
        (s, float(v), when)
        for s, v in (("sbp", a.sbp), ("map", a.map), ("dbp", a.dbp))
        if v is not None
    ]
    assert sig(out) == want


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_recover(junk: bytes) -> None:
    d = AccutorrDecoder()
    d.feed(junk, now=1.0)
    d.feed(b"\r", now=1.0)
    out = d.feed(b"P:--,85,121, 45, 80,000,010,000, 5\r", now=301.0)
    assert ("sbp", 121.0, 1.0) in sig(out)


def test_accutorr_model_counts_minutes_from_the_measurement() -> None:
    m = make_model("accutorr")
    s = VitalState()
    assert decode("accutorr", m.answer(b"P", s, 0.0)) == []  # no measurement yet: dashes
    for sig, v in (("sbp", 118.4), ("map", 88.0), ("dbp", 71.0)):
        r = Reading.of(sig, v, time=1000.0)
        s.update(r)
        m.on_reading(s, r, 1000.0)
    answer = m.answer(b"P", s, 1000.0 + 5 * 60 + 10)
    assert answer == [b"P:--,--,118, 88, 71,000,010,000, 5\r"]
    out = decode("accutorr", answer, now=2000.0)
    assert [(r.signal, r.value, r.time) for r in out] == [
        ("sbp", 118.0, 1700.0),
        ("map", 88.0, 1700.0),
        ("dbp", 71.0, 1700.0),
    ]
    assert m.answer(b"X", s, 0.0) == []
