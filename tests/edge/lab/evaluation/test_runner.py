"""Cohort evaluation plumbing, with a stand-in detector (tests only) and the CLI."""

from __future__ import annotations

import json
import os
import sys

import pytest

from edge.lab.evaluation.report import summarise
from edge.lab.evaluation.runner import (
    EvaluationError,
    alert_instances,
    load_detector,
    replay_core,
    run_cohort,
)
from edge.lab.patient import generate
from edge.vocabulary import Alert
from tests.support import REPO, run_cli

STANDIN = "tests.edge.lab.evaluation.standin:StandInCore"


def alert(code, prio, phase, t):
    return (t, Alert(code, prio, "physiological", phase, t, code))


def test_alert_instances_count_medium_high_starts_and_escalations():
    outs = [
        alert("weight_gain", "low", "start", 1.0),
        alert("weight_gain", "medium", "escalate", 2.0),  # counts
        alert("weight_gain", "high", "escalate", 3.0),  # already >= medium
        alert("weight_gain", "low", "de-escalate", 4.0),
        alert("weight_gain", "medium", "escalate", 5.0),  # counts again
        alert("hypotension", "high", "start", 6.0),  # counts
        alert("hypotension", "high", "end", 7.0),
        alert("hypotension", "high", "start", 8.0),  # counts
        (9.0, Alert("sensor_off", "low", "technical", "start", 9.0, "x")),
        (10.0, Alert("device_offline", "medium", "technical", "start", 10.0, "x")),
        (11.0, "not an alert"),
    ]
    assert alert_instances(iter(outs), end=99.0) == [
        (2.0, 4.0, "weight_gain"),
        (5.0, 99.0, "weight_gain"),
        (6.0, 7.0, "hypotension"),
        (8.0, 99.0, "hypotension"),
    ]


def test_replay_feeds_every_reading_doses_and_ticks():
    sc = generate("moderate", seed=1, days=0.5)
    made = []

    def make(config):
        from tests.edge.lab.evaluation.standin import StandInCore

        core = StandInCore(config)
        made.append(core)
        return core

    replay_core(sc, make, load_detector("edge.lab.evaluation.runner:default_config")())
    core = made[0]
    assert core.baseline_weight == sc.streams.baseline_weight
    assert core.doses == sc.streams.doses.tolist()
    assert core.ticks == pytest.approx(0.5 * 1440, abs=2)


@pytest.mark.parametrize("artifacts", ["a", "b", "c"])
def test_the_value_feed_gives_what_the_reading_feed_gives(artifacts):
    # the core gets SpO2 and pulse as values (Core.sample); a detector with update()
    # only gets the Readings streams.readings() builds: the same outputs at the same times
    from edge.core import Core, output_dict

    class ReadingsOnly:
        def __init__(self, config):
            core = Core(config)
            self.update, self.tick, self.dose = core.update, core.tick, core.dose

    sc = generate("severe", seed=1, days=1.5, artifacts=artifacts)
    config = load_detector("edge.lab.evaluation.runner:default_config")()
    by_value = replay_core(sc, Core, config)
    by_reading = replay_core(sc, ReadingsOnly, config)
    assert len(by_value) > 10
    assert [(t, output_dict(o)) for t, o in by_value] == [
        (t, output_dict(o)) for t, o in by_reading
    ]
    readings = [r for r in sc.streams.readings() if not isinstance(r, float)]
    rows = [(t, s, v, f) for t, s, v, f in sc.streams.rows() if s != "dose"]
    assert [(r.time, r.signal, r.value, r.flags, r.source) for r in readings] == [
        (*row, "virtual-patient") for row in rows
    ]


def test_bad_detector_is_a_clear_error():
    with pytest.raises(EvaluationError, match="module:attr"):
        load_detector("nonsense")
    with pytest.raises(EvaluationError, match="cannot load"):
        load_detector("edge.nope:Core")


def test_evaluation_is_deterministic_for_a_seed_and_any_worker_count():
    a = run_cohort(4, seed=3, days=0.75, detector=STANDIN, jobs=1)
    b = run_cohort(4, seed=3, days=0.75, detector=STANDIN, jobs=2)
    c = run_cohort(4, seed=4, days=0.75, detector=STANDIN, jobs=1)
    meta = {"seed": 3, "command": "", "jobs": 1, "wall_seconds": 0}

    def strip(s):
        s["cohort"].pop("cpu_seconds")
        return s

    sa, sb = (strip(summarise(x, meta)) for x in (a, b))
    assert sa == sb
    assert [r.outcome for r in a] == [r.outcome for r in b]
    assert [r.truth for r in a] != [r.truth for r in c]
    assert set(sa["results"]) == {"capleak", "monitor", "news2"}


def test_cli_export_writes_csv_and_truth(tmp_path):
    prefix = tmp_path / "pt"
    p = run_cli(
        "evaluate", "--export", str(prefix), "--severity", "severe", "--seed", "7", "--days", "1"
    )
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "pt.csv").read_text().startswith("time,signal,value,flags\n")
    truth = json.loads((tmp_path / "pt.truth.json").read_text())
    assert truth["drawn_severity"] == "severe" and truth["seed"] == 7
    assert b"pt.csv" in p.stdout


def test_cli_evaluate_writes_the_report(tmp_path):
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "out"
    args = ("evaluate", "--patients", "3", "--seed", "2", "--days", "0.5", "--jobs", "1")
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert b"3/3 patients" in p.stderr
    data = json.loads((out / "evaluation.json").read_text())
    assert data["cohort"]["patients"] == 3 and data["seed"] == 2
    assert [p["index"] for p in data["patients"]] == [0, 1, 2]
    md = (out / "evaluation.md").read_text()
    assert "| **monitor** |" in md and "| **capleak** |" in md
    assert "--patients=3 --seed=2" in md
    plots = sorted(x.name for x in out.glob("*.png"))
    if "Plots skipped" in md:
        assert plots == []
        # the exact command, for this very Python, not a package name to guess from
        assert f"Install it with: {sys.executable} -m pip install 'matplotlib>=3.6'" in md
    else:
        assert "lead_times.png" in plots and len(plots) == 2


def test_cli_reports_a_missing_detector(tmp_path):
    p = run_cli(
        "evaluate", "--patients", "1", "--detector", "edge.nope:Core", "--out", str(tmp_path)
    )
    assert p.returncode == 1
    assert b"cannot load detector" in p.stderr and b"Traceback" not in p.stderr
