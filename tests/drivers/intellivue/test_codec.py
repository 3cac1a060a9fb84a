"""IntelliVue value codecs: FLOAT-Type (the guide's examples as quoted by mindleaving) and
BCD AbsoluteTime."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.intellivue.codec import (
    ABS_TIME_INVALID,
    FLOAT_NAN,
    decode_abs_time,
    decode_float,
    encode_abs_time,
    encode_float,
    encode_float_parts,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- FLOAT-Type -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        # examples from the programming guide, as quoted in mindleaving's tests
        (0xFD007D00, 32.0),
        (0xFF000140, 32.0),
        (0x01000140, 3200.0),
        (0x02000020, 3200.0),
        # hand-computed
        (0xFF0003CF, 97.5),
        (0x00000078, 120.0),
        (0xFEFFFF9C, -1.0),  # mantissa -100, exponent -2
        (0x00000000, 0.0),
    ],
)
def test_float_examples(raw: int, value: float) -> None:
    assert decode_float(raw) == value


@pytest.mark.parametrize("mantissa", [0x7FFFFF, 0x800000, 0x7FFFFE, 0x800002, 0x800001])
@pytest.mark.parametrize("exponent", [0x00, 0xFF, 0x7F, 0x80])
def test_float_special_values_are_no_reading(mantissa: int, exponent: int) -> None:
    assert decode_float((exponent << 24) | mantissa) is None


@given(st.integers(-128, 127), st.integers(-0x7FFFFD, 0x7FFFFD))
def test_float_parts_round_trip(exponent: int, mantissa: int) -> None:
    raw = encode_float_parts(exponent, mantissa)
    value = decode_float(raw)
    assert value is not None
    expected = mantissa * 10**exponent
    assert value == pytest.approx(float(expected), rel=1e-12, abs=0)


@given(st.integers(-9_999_999, 9_999_999), st.integers(0, 3))
def test_float_decimal_round_trip(units: int, decimals: int) -> None:
    value = units / 10**decimals
    decoded = decode_float(encode_float(value))
    assert decoded == pytest.approx(value, rel=1e-6, abs=10**-decimals)


def test_float_encodes_none_and_nan_as_nan() -> None:
    assert encode_float(None) == FLOAT_NAN
    assert encode_float(float("nan")) == FLOAT_NAN
    assert decode_float(encode_float(float("inf"))) is None


@given(st.integers(946_684_800, 4_102_444_799), st.integers(0, 99), st.sampled_from([0, 1, -5]))
def test_abs_time_round_trip(seconds: int, hundredths: int, offset: int) -> None:
    t = seconds + hundredths / 100
    raw = encode_abs_time(t, offset)
    assert decode_abs_time(raw, offset) == pytest.approx(t, abs=1e-6)


def test_abs_time_invalid() -> None:
    assert decode_abs_time(ABS_TIME_INVALID) is None
    assert decode_abs_time(bytes.fromhex("20 26 13 01 00 00 00 00")) is None  # month 13
    assert encode_abs_time(T0) == bytes.fromhex("20 26 01 01 00 00 00 00")
