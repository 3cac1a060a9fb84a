"""The evaluation on artifact model B, and the side-by-side report of both models."""

from __future__ import annotations

import json
import os

from edge.lab.evaluation.metrics import (
    EVIDENCE_CODES,
    EVIDENCE_CRITERIA,
    PatientOutcome,
    active_at_hold,
    alarm_load,
    score,
)
from edge.lab.evaluation.report import combine, markdown, side_by_side, summarise
from edge.lab.evaluation.runner import run_cohort
from tests.support import REPO, run_cli

STANDIN = "tests.edge.lab.evaluation.standin:StandInCore"


def test_the_real_core_runs_on_model_b_in_a_small_cohort():
    runs = run_cohort(3, seed=5, days=1.0, jobs=1, artifacts="b")
    meta = {"seed": 5, "days": 1.0, "command": "", "jobs": 1, "wall_seconds": 0}
    s = summarise(runs, {**meta, "artifact_model": "b"})
    assert s["cohort"]["patients"] == 3
    f = s["focus"]
    assert set(f) == {
        "false_by_code",
        "evidence",
        "evidence_on_evidence_first",
        "active_at_hold",
        "alarm_load",
    }
    assert f["alarm_load"]["drew_2014_per_bed_day"] == 187.0
    assert f["alarm_load"]["bed_days"] == 3.0
    assert "artifact model B" in markdown(s)
    text = side_by_side({"a": s, "b": s})
    assert "| figure | model A | model B |" in text
    assert "Drew 2014" in text
    both = combine({"a": s, "b": s})
    assert both["cohort"]["patients"] == 3 and "b" in both["artifact_models"]


def test_same_patients_under_both_models():
    a = run_cohort(2, seed=9, days=0.5, detector=STANDIN, jobs=1, artifacts="a")
    b = run_cohort(2, seed=9, days=0.5, detector=STANDIN, jobs=1, artifacts="b")
    assert [r.truth for r in a] == [r.truth for r in b]
    assert [r.readings for r in a] != [r.readings for r in b]


def _p(severity, alerts, first_hold=None, low_cuff=None, criterion=None):
    return PatientOutcome(
        0,
        severity,
        86400.0,
        first_hold,
        first_hold,
        {"capleak": alerts},
        low_cuff,
        first_hold_criterion=criterion,
    )


def test_evidence_on_events_first_met_by_sbp_spo2_or_weight_leaves_hr_first_events_out():
    runs = run_cohort(2, seed=5, days=0.5, detector=STANDIN, jobs=1, artifacts="a")
    meta = {"seed": 5, "days": 0.5, "command": "", "jobs": 1, "wall_seconds": 0}
    s = summarise(runs, meta)
    assert [r.outcome.first_hold_criterion for r in runs] == [
        r.truth["first_hold_criterion"] for r in runs
    ]
    pts = [
        _p("severe", [(3000.0, 5000.0, "hypotension")], first_hold=4000.0, criterion="sbp"),
        _p("moderate", [], first_hold=4000.0, criterion="hr"),
        _p("severe", [], first_hold=4000.0, criterion="weight"),
    ]
    every = score(pts, "capleak", EVIDENCE_CODES)
    assert (every["detected"], every["events"]) == (1, 3)
    s["focus"]["evidence_on_evidence_first"] = score(
        [p for p in pts if p.first_hold_criterion in EVIDENCE_CRITERIA], "capleak", EVIDENCE_CODES
    )
    row = side_by_side({"c": s}).splitlines()
    line = next(x for x in row if x.startswith("| ... the same, on the events whose first"))
    assert "50 % (1/2)" in line


def test_active_at_hold_counts_alerts_active_not_only_started():
    pts = [
        _p("moderate", [(100.0, 5000.0, "bp_falling")], first_hold=4000.0, low_cuff=4100.0),
        _p("severe", [(4500.0, 9000.0, "hypotension")], first_hold=4000.0, low_cuff=4200.0),
        _p("severe", [], first_hold=3000.0),
        _p("none", [(10.0, 20.0, "desaturation")]),
    ]
    r = active_at_hold(pts, "capleak")
    assert r["first_hold"] == {"patients": 3, "with_alert_active": 1, "by_code": {"bp_falling": 1}}
    cuff = r["first_low_cuff"]
    assert cuff["patients"] == 2 and cuff["with_alert_active"] == 1
    assert cuff["hypotension_delay_min"]["values"] == [5.0]
    assert cuff["hypotension_delay_min"]["never"] == 1
    ev = score(pts, "capleak", ("hypotension", "bp_falling"))
    assert ev["indicator"] == "hypotension+bp_falling" and ev["detected"] >= 1
    load = alarm_load([{"physiological": 2}, {"physiological": 4}], pts[:2])
    assert load["capleak_per_bed_day"]["physiological"] == 3.0


def test_cli_both_models_side_by_side(tmp_path):
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "out"
    args = ("evaluate", "--patients", "2", "--seed", "2", "--days", "0.3", "--jobs", "1")
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert b"artifact model B" in p.stderr
    data = json.loads((out / "evaluation.json").read_text())
    assert data["artifact_model"] == "a" and data["artifact_models"]["b"]["artifact_model"] == "b"
    md = (out / "evaluation.md").read_text()
    assert md.startswith("# capleak on two artifact models")
    assert "--artifacts=both" in md
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), "--artifacts", "b", env=env)
    assert p.returncode == 0, p.stderr.decode()
    data = json.loads((out / "evaluation.json").read_text())
    assert data["artifact_model"] == "b" and "artifact_models" not in data
    # one model still gets the issue-12 table, headed by its model
    assert (out / "evaluation.md").read_text().startswith("# capleak on artifact model B")
