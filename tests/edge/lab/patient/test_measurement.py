"""The measurement layer and scenario export (edge/lab/patient/measurement.py, __init__.py)."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np

from edge.lab.patient import generate, scenario_readings
from edge.vocabulary import FLAGS, Reading, parse_time


def test_generation_is_deterministic_for_a_seed(tmp_path):
    a = generate("moderate", seed=4, days=0.5)
    b = generate("moderate", seed=4, days=0.5)
    c = generate("moderate", seed=5, days=0.5)
    pa, pb, pc = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.export(f"{pa}.csv", f"{pa}.json")
    b.export(f"{pb}.csv", f"{pb}.json")
    c.export(f"{pc}.csv", f"{pc}.json")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_export_is_a_valid_replay_csv(tmp_path):
    sc = generate("severe", seed=2, days=1.0)
    rows = sc.export(str(tmp_path / "p.csv"), str(tmp_path / "p.truth.json"))
    with open(tmp_path / "p.csv", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["time", "signal", "value", "flags"]
        body = list(reader)
    assert len(body) == rows == sc.streams.count()
    signals = {r[1] for r in body}
    assert {"spo2", "pulse", "sbp", "map", "dbp", "weight", "dose"} <= signals
    for t, signal, value, flags in body[:: max(1, len(body) // 5000)]:
        parse_time(t)
        float(value)
        assert set(filter(None, flags.split(";"))) <= FLAGS
        if signal != "dose":
            Reading.of(signal, float(value), time=float(t), flags=filter(None, flags.split(";")))
    truth = json.loads((tmp_path / "p.truth.json").read_text())
    assert truth["severity"] in ("none", "mild", "moderate", "severe")
    assert set(truth["hold_criteria_first_met"]) == {"sbp", "spo2", "weight", "hr"}


def test_streams_carry_the_documented_imperfections():
    sc = generate("moderate", seed=8, index=3, days=5.0)
    st, tr = sc.streams, sc.trajectory
    # sensor-off periods: gaps in the 1 Hz stream and pi=0 readings flagged sensor_off
    assert len(st.off_t) > 0
    assert np.diff(np.sort(st.ox_t)).max() > 10.0
    # flagged and unflagged artifacts both exist
    flagged = st.ox_flag != 0
    assert flagged.any()
    true_spo2 = np.interp(st.ox_t - st.start, tr.t, tr.spo2)
    unflagged_dips = (~flagged) & (st.spo2 < true_spo2 - 5)
    assert unflagged_dips.any()
    # NIBP error around +-5 mmHg, a few gross errors
    true_sbp = np.interp(st.nibp_t - st.start, tr.t, tr.sbp)
    err = st.sbp - true_sbp
    assert abs(np.median(err)) < 4.0 and np.percentile(np.abs(err), 50) < 6.0
    # clock jitter: device times are not whole seconds and interleave slightly out of order
    times = [r[0] for r in st.rows() if r[1] != "dose"]
    assert any(b < a for a, b in itertools.pairwise(times))


def test_scenario_readings_yields_readings():
    it = scenario_readings("mild", seed=1, days=0.2)
    first = [next(it) for _ in range(100)]
    assert all(isinstance(r, Reading) for r in first)
    assert {r.signal for r in first} >= {"spo2", "pulse"}


def test_fast_readings_equal_validated_readings():
    sc = generate("severe", seed=3, days=0.5)
    rows = list(sc.streams.rows())
    items = list(sc.streams.readings(source="vp"))
    assert len(rows) == len(items)
    for (t, signal, value, flags), item in zip(rows, items, strict=True):
        if signal == "dose":
            assert item == t
        else:
            assert item == Reading.of(signal, value, time=t, source="vp", flags=flags)
            assert hash(item) == hash(Reading.of(signal, value, time=t, source="vp", flags=flags))


def test_patient_scenario_plugin_is_in_time_order():
    import itertools

    import pytest

    from edge.lab.patient.scenario import parse_args, scenario

    times = [r.time for r in itertools.islice(scenario("moderate:7:0.2", 1000.0, "sim"), 20000)]
    assert all(b >= a for a, b in itertools.pairwise(times))
    assert abs(times[0] - 1000.0) < 5.0
    assert parse_args("mild") == ("mild", 0, 5.0)
    for bad in ("", "awful", "mild:x", "mild:1:99", "mild:1:2:3"):
        with pytest.raises(ValueError, match="patient"):
            parse_args(bad)
