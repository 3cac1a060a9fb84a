from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.nellcor_n595 import NellcorDecoder, NellcorLine, encode, encode_heading, status_for

SAMPLE = (
    b"N-595   VERSION 1.1.0.0     CRC:XXXX  SpO2 Limit: 85-100%    PR Limit: 50-170BPM\r\n"
    b"TIME                %SpO2   BPM   PA  Status\r\n"
    b"07-Apr-05 10:47:20    ---    ---  ---  SD\r\n"
    b"07-Apr-05 10:47:22     98     72  210\r\n"
    b"07-Apr-05 10:47:24     89*    49* 210  SL PL MO\r\n"
    b"12-NOV-98 14:00:05 100 120 50\r\n"
)


def test_documented_lines() -> None:
    d = NellcorDecoder("ox")
    out = d.feed(SAMPLE)
    assert [(r.signal, r.value, sorted(r.flags)) for r in out] == [
        ("spo2", 98.0, []),
        ("pulse", 72.0, []),
        ("spo2", 89.0, ["artifact"]),
        ("pulse", 49.0, ["artifact"]),
        ("spo2", 100.0, []),
        ("pulse", 120.0, []),
    ]
    assert out[0].time == 1112870842.0
    assert not d.rejected and d.ignored["heading"] == 2


def test_malformed_lines_rejected_whole() -> None:
    d = NellcorDecoder()
    bad = (
        b"07-Apr-05 10:47:22     98\r\n"
        b"07-Abc-05 10:47:22     98     72  210\r\n"
        b"07-Apr-05 10:47:22     9x     72  210\r\n"
        b"07-Apr-05 10:47:22     98     72  210  ZZ\r\n"
        b"07-Apr-05 10:47:22    101     72  210\r\n"
    )
    assert d.feed(bad) == []
    assert d.rejected["malformed"] == 5


lines = st.builds(
    NellcorLine,
    time=st.integers(946684800, 4102444799).map(float),
    spo2=st.none() | st.integers(0, 100),
    pulse=st.none() | st.integers(0, 400),
    pa=st.none() | st.integers(0, 999),
    status=st.sampled_from([(), ("SD",), ("SO",), ("MO", "PS"), ("SL", "PL")]),
    alarm=st.booleans(),
)


@given(lines)
def test_round_trip(line: NellcorLine) -> None:
    out = NellcorDecoder().feed(encode_heading() + encode(line))
    want = [(s, float(v)) for s, v in (("spo2", line.spo2), ("pulse", line.pulse)) if v is not None]
    assert [(r.signal, r.value) for r in out] == want
    assert all(r.time == line.time for r in out)


@given(st.frozensets(st.sampled_from(["no_sensor", "sensor_off", "artifact", "searching"])))
def test_flags_round_trip_through_status_codes(flags: frozenset[str]) -> None:
    out = NellcorDecoder().feed(encode(NellcorLine(0.0, 95, 70, 100, status_for(flags))))
    assert all(r.flags == flags for r in out) and len(out) == 2


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_recover(junk: bytes) -> None:
    d = NellcorDecoder()
    d.feed(junk)
    assert [r.value for r in d.feed(b"\r\n07-Apr-05 10:47:22     98     72  210\r\n")] == [
        98.0,
        72.0,
    ]


def test_garbage_glued_before_a_line_is_skipped() -> None:
    out = NellcorDecoder().feed(b"\x00\xfe%%07-Apr-05 10:47:22     98     72  210\r\n")
    assert [r.value for r in out] == [98.0, 72.0]
