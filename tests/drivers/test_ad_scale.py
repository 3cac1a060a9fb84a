from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from drivers.ad_scale import AdScaleDecoder, ScaleLine, encode
from drivers.simulator import make_model
from edge.vocabulary import Reading
from tests.drivers.helpers import vital_state

PUBLISHED = b"ST,+00123.45  g\r\nST,G ,+01234.5kg\r\nST,GS,+  4.876kg\r\nOL,+9999999E+19\r\n"


def test_published_examples() -> None:
    d = AdScaleDecoder("scale")
    out = d.feed(PUBLISHED, now=7.0)
    assert [(r.value, r.unit, r.time) for r in out] == [
        (0.12345, "kg", 7.0),
        (1234.5, "kg", 7.0),
        (4.876, "kg", 7.0),
    ]
    assert not d.rejected and d.ignored["overload"] == 1


def test_unstable_pounds_and_count() -> None:
    d = AdScaleDecoder()
    out = d.feed(b"US,+00160.00 lb\r\nQT,+0000123 PC\r\n")
    assert [(r.value, sorted(r.flags)) for r in out] == [(72.574779, ["unstable"])]
    assert d.ignored["count"] == 1 and not d.rejected


def test_malformed_lines() -> None:
    d = AdScaleDecoder()
    bad = b"XX,+00001.00 kg\r\nST,+0001x.00 kg\r\nST,+00001.00 oz\r\nST,+00001.00\r\nST,\xff\r\n"
    assert d.feed(bad) == []
    assert d.rejected["malformed"] == 5


def test_a_tare_print_is_no_weight() -> None:
    """``ST,TR,...`` is the tare the scale subtracts (issue 13 item 14): a 2,345 kg tare must
    not become the patient's weight; it is a valid frame (never counted as garbage)."""
    d = AdScaleDecoder()
    assert d.feed(b"ST,TR,+0002345kg\r\n") == []
    assert d.ignored["tare"] == 1 and not d.rejected and d.frames == 1
    assert [r.value for r in d.feed(b"ST,NT,+00072.40kg\r\n")] == [72.4]


def test_a_percent_mode_print_is_no_weight_and_not_corrupt() -> None:
    d = AdScaleDecoder()
    assert d.feed(b"ST,+000123.4  %\r\nUS,+000099.0  %\r\n") == []
    assert d.ignored["percent"] == 2 and not d.rejected and d.frames == 2
    assert d.feed(b"ST,+0001x.4  %\r\n") == [] and d.rejected["malformed"] == 1


lines = st.builds(
    ScaleLine,
    weight_kg=st.integers(-50_000, 30_000_000).map(lambda c: c / 100),
    stable=st.booleans(),
    data_type=st.none() | st.sampled_from(["GS", "NT", "G "]),
)


@given(lines)
def test_round_trip_kg(line: ScaleLine) -> None:
    (r,) = AdScaleDecoder().feed(encode(line))
    assert r.value == line.weight_kg
    assert ("unstable" in r.flags) == (not line.stable)


@given(st.integers(0, 300_000).map(lambda c: c / 1000), st.sampled_from(["g", "lb"]))
def test_round_trip_other_units_within_resolution(kg: float, unit: str) -> None:
    line = ScaleLine(kg, unit=unit, decimals=1 if unit == "g" else 3)
    (r,) = AdScaleDecoder().feed(encode(line))
    resolution = 0.0001 if unit == "g" else 0.001 * 0.45359237
    assert math.isclose(r.value, kg, abs_tol=resolution / 2 + 1e-6)  # + 6-decimal rounding


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_and_recover(junk: bytes) -> None:
    d = AdScaleDecoder()
    d.feed(junk)
    assert [r.value for r in d.feed(b"\r\nST,+00072.40 kg\r\n")] == [72.4]


def test_ad_scale_model_prints_each_weighing() -> None:
    ad = make_model("ad-scale")
    r = Reading.of("weight", 71.234, time=0.0, flags={"unstable"})
    assert ad.on_reading(vital_state(), r, 0.0) == [b"US,+00071.23 kg\r\n"]
