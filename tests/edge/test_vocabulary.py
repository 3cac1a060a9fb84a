from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.vocabulary import (
    ALERT_KINDS,
    FLAGS,
    SIGNALS,
    Alert,
    AlertCode,
    Phase,
    Priority,
    Reading,
    iso_time,
    parse_time,
)


def test_signal_table_matches_the_docs() -> None:
    # shared/docs/messaging-and-ops.md, "Codes and units for vital signs"
    expected = {
        "sbp": (150021, "mm[Hg]", "8480-6"),
        "dbp": (150022, "mm[Hg]", "8462-4"),
        "map": (150023, "mm[Hg]", "8478-0"),
        "spo2": (150456, "%", "59408-5"),
        "pulse": (149530, "/min", "8867-4"),
        "weight": (188736, "kg", "29463-7"),
    }
    for name, (mdc, unit, loinc) in expected.items():
        info = SIGNALS[name]
        assert (info.mdc_code, info.unit, info.loinc) == (mdc, unit, loinc)
    assert set(SIGNALS) == {"sbp", "dbp", "map", "spo2", "pulse", "weight", "pi"}


def test_mdc_codes_are_scada_partition() -> None:
    for info in SIGNALS.values():
        assert info.mdc_code // 65536 == 2


def test_reading_rejects_wrong_unit_signal_flag_and_nan() -> None:
    with pytest.raises(ValueError, match="measured in"):
        Reading(time=0.0, signal="spo2", value=97, unit="kg", source="x")
    with pytest.raises(ValueError, match="unknown signal"):
        Reading.of("glucose", 5.0)
    with pytest.raises(ValueError, match="unknown flag"):
        Reading.of("spo2", 97, flags={"wobbly"})
    with pytest.raises(ValueError, match="finite"):
        Reading.of("spo2", math.nan)


def test_reading_dict_carries_codes() -> None:
    r = Reading.of("weight", 72.5, time=0.0, source="scale", flags={"unstable"})
    d = r.to_dict()
    assert d == {
        "signal": "weight",
        "value": 72.5,
        "unit": "kg",
        "source": "scale",
        "flags": ["unstable"],
        "mdc": 188736,
        "mdc_refid": "MDC_MASS_BODY_ACTUAL",
        "loinc": "29463-7",
        "time": "1970-01-01T00:00:00.000Z",
    }


def test_stamped_keeps_device_time() -> None:
    assert Reading.of("spo2", 97).stamped(5.0).time == 5.0
    assert Reading.of("spo2", 97, time=1.0).stamped(5.0).time == 1.0


def test_every_alert_code_has_a_kind() -> None:
    assert set(ALERT_KINDS) == set(AlertCode)


def test_alert_coerces_and_serialises() -> None:
    a = Alert(
        code="hypotension",
        priority="high",
        kind="physiological",
        phase="start",
        time=60.0,
        message="SBP 85 < 90",
        values={"sbp": 85.0},
    )
    assert a.priority is Priority.HIGH and a.phase is Phase.START
    assert a.to_dict()["time"] == "1970-01-01T00:01:00.000Z"
    with pytest.raises(ValueError):
        Alert(code="x", priority="urgent", kind="physiological", phase="start", time=0, message="")


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_iso_time_is_exact_to_the_millisecond(t: float) -> None:
    assert abs(t - parse_time(iso_time(t))) < 0.001 + 1e-6


def test_parse_time_requires_a_zone() -> None:
    with pytest.raises(ValueError, match="zone"):
        parse_time("2026-01-01T00:00:00")
    assert parse_time("2026-01-01T01:00:00+01:00") == parse_time("2026-01-01T00:00:00Z")


def test_flags_vocabulary() -> None:
    assert {
        "artifact",
        "sensor_off",
        "no_sensor",
        "low_perfusion",
        "searching",
        "low_quality",
        "unstable",
        "overload",
    } <= FLAGS
