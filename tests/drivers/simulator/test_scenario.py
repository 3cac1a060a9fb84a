from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from drivers.simulator.scenario import load_scenario, parse_duration, parse_tracks


def take(spec: str, n: int, start: float = 1000.0, **kw):
    return list(itertools.islice(load_scenario(spec, start, **kw), n))


def test_constant_and_ramp_with_default_periods() -> None:
    out = take("spo2=97,sbp=120->80@1h", 3700)
    sbp = [(r.time, r.value) for r in out if r.signal == "sbp"]
    assert sbp[:3] == [(1000.0, 120.0), (1900.0, 110.0), (2800.0, 100.0)]
    spo2 = [r for r in out if r.signal == "spo2"]
    assert {r.value for r in spo2} == {97.0}
    assert [r.time for r in spo2[:3]] == [1000.0, 1001.0, 1002.0]
    times = [r.time for r in out]
    assert times == sorted(times)


def test_ramp_holds_its_end_value() -> None:
    out = take("weight=70->80@2s/1s", 5)
    assert [r.value for r in out] == [70.0, 75.0, 80.0, 80.0, 80.0]


def test_builtin_with_override_and_flags() -> None:
    tracks = parse_tracks("stable,sbp=100,spo2+=artifact")
    assert tracks["sbp"].a == 100.0 and tracks["pulse"].a == 72.0
    assert tracks["spo2"].flags == {"artifact"}


def test_nibp_triple_shares_time_stamps() -> None:
    out = take("leak", 20000)
    by_time: dict[float, set[str]] = {}
    for r in out:
        if r.signal in ("sbp", "map", "dbp"):
            by_time.setdefault(r.time, set()).add(r.signal)
    assert by_time and all(v == {"sbp", "map", "dbp"} for v in by_time.values())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("spo2=abc", "bad scenario item"),
        ("bogus=1", "unknown signal"),
        ("spo2=97->90@2x", "bad scenario item"),
        ("spo2=97/0s", "period must be positive"),
        ("spo2+=sparkly,spo2=97", "unknown flag"),
        ("", "empty scenario"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        take(spec, 1)


def test_durations() -> None:
    assert parse_duration("5d") == 432000.0
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_replay_csv_shifted_to_start(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "signal,time,value,flags\n"
        "spo2,2026-01-01T00:00:00Z,97,\n"
        "dose,2026-01-01T00:00:00.5Z,,\n"
        "spo2,2026-01-01T00:00:01Z,88,artifact;searching\n"
        "weight,1767225602,70.5\n"
    )
    out = list(load_scenario(str(f), 50.0, source="x"))
    assert [(r.time, r.signal, r.value, sorted(r.flags)) for r in out] == [
        (50.0, "spo2", 97.0, []),
        (51.0, "spo2", 88.0, ["artifact", "searching"]),
        (52.0, "weight", 70.5, []),
    ]
    assert next(load_scenario(str(f), 50.0, shift=False)).time == 1767225600.0
    assert len(list(load_scenario(str(f), 50.0, until=51.0))) == 2


def test_replay_csv_errors_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("time,signal,value\n2026-01-01T00:00:01Z,spo2,97\n2026-01-01T00:00:00Z,spo2,96\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: rows must be in time order"):
        list(load_scenario(str(f), 0.0))
    f.write_text("when,what\n")
    with pytest.raises(ValueError, match="header"):
        list(load_scenario(str(f), 0.0))


def test_signals_filter_and_a_scenario_without_them() -> None:
    out = take("stable", 5, signals={"sbp", "weight"})
    assert {r.signal for r in out} == {"sbp", "weight"}
    with pytest.raises(ValueError, match="none of the signals"):
        take("spo2=97", 1, signals={"weight"})
