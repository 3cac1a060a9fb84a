"""The evaluation on artifact model C, and the three-model side-by-side report."""

from __future__ import annotations

import json
import os

from edge.lab.evaluation.report import combine, markdown, side_by_side, summarise
from edge.lab.evaluation.runner import run_cohort
from tests.support import REPO, run_cli

STANDIN = "tests.edge.lab.evaluation.standin:StandInCore"


def test_the_real_core_consumes_model_c_on_short_patients():
    runs = run_cohort(2, seed=6, days=0.5, jobs=1, artifacts="c")
    assert all(r.readings > 40_000 for r in runs)
    meta = {"seed": 6, "days": 0.5, "command": "", "jobs": 1, "wall_seconds": 0}
    s = summarise(runs, {**meta, "artifact_model": "c"})
    assert s["cohort"]["patients"] == 2
    assert "artifact model C" in markdown(s)
    text = side_by_side({"a": s, "b": s, "c": s})
    assert text.startswith("# capleak on three artifact models")
    assert "| figure | model A | model B | model C |" in text
    assert "only its seed 4 was tuned on" in text
    assert "| model C |" not in side_by_side({"a": s, "b": s})
    both = combine({"a": s, "b": s, "c": s})
    assert set(both["artifact_models"]) == {"b", "c"}


def test_cli_all_models_side_by_side_and_c_alone(tmp_path):
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "out"
    args = ("evaluate", "--patients", "2", "--seed", "2", "--days", "0.2", "--jobs", "1")
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), "--artifacts", "all", env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert b"artifact model C" in p.stderr
    data = json.loads((out / "evaluation.json").read_text())
    assert data["artifact_model"] == "a"
    assert data["artifact_models"]["c"]["artifact_model"] == "c"
    assert data["artifact_models"]["d"]["artifact_model"] == "d"
    md = (out / "evaluation.md").read_text()
    assert md.startswith("# capleak on four artifact models")
    assert "--artifacts=all" in md
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), "--artifacts", "c", env=env)
    assert p.returncode == 0, p.stderr.decode()
    data = json.loads((out / "evaluation.json").read_text())
    assert data["artifact_model"] == "c" and "artifact_models" not in data
    prefix = tmp_path / "one"
    p = run_cli("evaluate", "--export", str(prefix), "--days", "0.1", "--artifacts", "c", env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "one.csv").read_text().startswith("time,signal,value,flags\n")
    p = run_cli(*args, "--artifacts", "e", env=env)
    assert p.returncode == 2 and b"invalid choice" in p.stderr
