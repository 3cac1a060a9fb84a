from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.model import VitalState
from drivers.mt_sics import MtSicsDecoder, SicsAnswer, encode
from drivers.registry import get_driver
from drivers.simulator import make_model
from tests.drivers.helpers import vital_state


def test_documented_answers() -> None:
    d = MtSicsDecoder("scale")
    data = b"S S      72.45 kg\r\nS D      72.40 kg\r\nS I\r\nS +\r\nS -\r\nES\r\n"
    out = d.feed(data, now=3.0)
    assert [(r.value, sorted(r.flags), r.time) for r in out] == [
        (72.45, [], 3.0),
        (72.4, ["unstable"], 3.0),
    ]
    assert sum(d.ignored.values()) == 4 and not d.rejected


def test_grams_and_malformed() -> None:
    d = MtSicsDecoder()
    out = d.feed(b"S S   72450.0 g\r\nS S      72.45 oz\r\nS X 1 kg\r\nS S kg\r\n")
    assert [r.value for r in out] == [72.45]
    assert d.rejected["malformed"] == 3


def test_driver_polls_s() -> None:
    assert get_driver("mt-sics").poll_command == b"S\r\n"


answers = st.builds(
    SicsAnswer,
    status=st.sampled_from(["S", "D"]),
    weight_kg=st.integers(-1000, 5_000_000).map(lambda c: c / 100),
)


@given(answers)
def test_round_trip(a: SicsAnswer) -> None:
    (r,) = MtSicsDecoder().feed(encode(a))
    assert r.value == a.weight_kg and ("unstable" in r.flags) == (a.status == "D")


@given(st.sampled_from(["I", "+", "-"]))
def test_no_value_answers(status: str) -> None:
    d = MtSicsDecoder()
    assert d.feed(encode(SicsAnswer(status))) == [] and not d.rejected


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_and_recover(junk: bytes) -> None:
    d = MtSicsDecoder()
    d.feed(junk)
    assert [r.value for r in d.feed(b"\r\nS S      70.00 kg\r\n")] == [70.0]


def test_mt_sics_model_answers_polls() -> None:
    sics = make_model("mt-sics")
    assert sics.answer(b"S", VitalState(), 0.0) == [b"S I\r\n"]
    assert sics.answer(b"S", vital_state(weight=80.456), 0.0) == [b"S S      80.46 kg\r\n"]
    assert sics.answer(b"XYZ", vital_state(weight=80.0), 0.0) == [b"ES\r\n"]
