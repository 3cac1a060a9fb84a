from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.masimo_ascii import MasimoDecoder, MasimoSample, encode
from drivers.simulator import make_model
from edge.vocabulary import Reading
from tests.drivers.helpers import decode, vital_state

PUBLISHED = [
    b"12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% SPMET=00.5% "
    b"DESAT=01 PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820\r\n",
    b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n",
    b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 "
    b"EXC=000001\r\n",
    b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% "
    b"SPHB=--.- SPOC=-- RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 "
    b"EXC1=00000000\r\n",
]


def test_published_examples() -> None:
    d = MasimoDecoder("ox")
    out = d.feed(b"".join(PUBLISHED))
    got = [(r.signal, r.value, sorted(r.flags)) for r in out]
    assert got == [
        ("spo2", 98.0, ["sensor_off"]),
        ("pulse", 240.0, ["sensor_off"]),
        ("pi", 20.0, ["sensor_off"]),
        ("spo2", 97.0, []),
        ("pulse", 64.0, []),
        ("pi", 11.82, []),
        # third line: all dashes, no reading
        ("spo2", 98.0, ["low_quality"]),
        ("pulse", 123.0, ["low_quality"]),
        ("pi", 0.55, ["low_quality"]),
    ]
    assert out[3].time == 1284563429.0  # 2010-09-15T15:10:29Z
    assert all(r.source == "ox" for r in out)
    assert not d.rejected


def test_any_chunking_gives_the_same_readings() -> None:
    data = b"".join(PUBLISHED)
    whole = MasimoDecoder().feed(data)
    d = MasimoDecoder()
    bytewise = [r for i in range(len(data)) for r in d.feed(data[i : i + 1])]
    assert bytewise == whole


def test_garbage_then_recovery() -> None:
    d = MasimoDecoder()
    assert d.feed(b"\x00\xff garbage SPO2=099%\r\n" + b"x" * 2000) == []
    out = d.feed(b"\r\n" + PUBLISHED[1])
    assert [r.value for r in out] == [97.0, 64.0, 11.82]
    assert d.rejected["malformed"] == 1 and d.rejected["overlong"] == 1


samples = st.builds(
    MasimoSample,
    time=st.integers(946684800, 4102444799).map(float),
    spo2=st.none() | st.integers(0, 100).map(float),
    pulse=st.none() | st.integers(0, 300).map(float),
    pi=st.none() | st.integers(0, 2000).map(lambda x: x / 100),
    exc=st.integers(0, 0x7FFFFF),
)


@given(samples)
def test_round_trip(sample: MasimoSample) -> None:
    out = {r.signal: r for r in MasimoDecoder().feed(encode(sample))}
    assert set(out) == {k for k in ("spo2", "pulse", "pi") if getattr(sample, k) is not None}
    for name, r in out.items():
        assert r.value == getattr(sample, name)
        assert r.time == sample.time


@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    d = MasimoDecoder()
    d.feed(data)
    assert [r.value for r in d.feed(b"\n" + PUBLISHED[1])] == [97.0, 64.0, 11.82]


def test_garbage_glued_before_a_line_is_skipped() -> None:
    d = MasimoDecoder()
    out = d.feed(b"\x13\x88=BPM" + PUBLISHED[1])
    assert [r.value for r in out] == [97.0, 64.0, 11.82]


def test_hardened_rejections() -> None:
    d = MasimoDecoder()
    bad = [
        b"09/15/10 15:10:29 SPO2=097% SPO2=090% BPM=064\r\n",  # conflicting duplicate
        b"09/15/10 15:10:29 SPO2=097% EXC=123456789\r\n",  # EXC too long
        b"09/15/10 15:10:29 SPO2=097% EXC=0x12\r\n",  # not hex digits
        b"09/15/10 15:10:29\r\n",  # no fields
        b"13/45/10 15:10:29 SPO2=097%\r\n",  # no such date
        b"09/15/10 15:10:29 SPO2=1\xe97%\r\n",  # not ASCII
    ]
    assert d.feed(b"".join(bad)) == []
    assert d.rejected["malformed"] == len(bad)


def test_masimo_model_rounds_like_the_device_and_maps_flags() -> None:
    m = make_model("masimo-ascii")
    s = vital_state(spo2=96.6, pulse=71.2, pi=3.456)
    s.update(Reading.of("spo2", 96.6, time=0.0, flags={"artifact"}))
    out = decode("masimo-ascii", m.emit(s, 1_767_225_600.0))
    assert [(r.signal, r.value, sorted(r.flags)) for r in out] == [
        ("spo2", 97.0, ["artifact"]),
        ("pulse", 71.0, ["artifact"]),
        ("pi", 3.46, ["artifact"]),
    ]
    assert out[0].time == 1_767_225_600.0
    s.sensor_off = True
    assert decode("masimo-ascii", m.emit(s, 1_767_225_601.0)) == []
