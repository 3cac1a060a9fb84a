"""The evaluation on artifact model D: the real core on short patients, and the CLI."""

from __future__ import annotations

import json
import os

from edge.lab.evaluation.report import markdown, summarise
from edge.lab.evaluation.runner import run_cohort
from tests.support import REPO, run_cli

STANDIN = "tests.edge.lab.evaluation.standin:StandInCore"


def test_the_real_core_consumes_model_d_on_short_patients():
    runs = run_cohort(2, seed=6, days=0.5, jobs=1, artifacts="d")
    assert all(r.readings > 40_000 for r in runs)
    meta = {"seed": 6, "days": 0.5, "command": "", "jobs": 1, "wall_seconds": 0}
    s = summarise(runs, {**meta, "artifact_model": "d"})
    assert s["cohort"]["patients"] == 2
    assert "artifact model D" in markdown(s)


def test_cli_model_d_alone_and_its_export(tmp_path):
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "out"
    args = ("evaluate", "--patients", "2", "--seed", "2", "--days", "0.2", "--jobs", "1")
    p = run_cli(*args, "--detector", STANDIN, "--out", str(out), "--artifacts", "d", env=env)
    assert p.returncode == 0, p.stderr.decode()
    data = json.loads((out / "evaluation.json").read_text())
    assert data["artifact_model"] == "d" and "artifact_models" not in data
    assert "--artifacts=d" in (out / "evaluation.md").read_text()
    prefix = tmp_path / "one"
    p = run_cli(
        "evaluate",
        "--export",
        str(prefix),
        "--days",
        "0.1",
        "--seed",
        "3",
        "--artifacts",
        "d",
        env=env,
    )
    assert p.returncode == 0, p.stderr.decode()
    lines = (tmp_path / "one.csv").read_text().splitlines()
    assert lines[0] == "time,signal,value,flags" and len(lines) > 10_000
    truth = json.loads((tmp_path / "one.truth.json").read_text())
    assert truth["seed"] == 3 and truth["baseline_weight_entered_kg"] > 40
    # the same patient as under model A, other devices
    p = run_cli(
        "evaluate",
        "--export",
        str(tmp_path / "a"),
        "--days",
        "0.1",
        "--seed",
        "3",
        "--artifacts",
        "a",
        env=env,
    )
    assert p.returncode == 0, p.stderr.decode()
    ta = json.loads((tmp_path / "a.truth.json").read_text())
    assert ta["severity"] == truth["severity"] and ta["params"] == truth["params"]
    assert (tmp_path / "a.csv").read_text() != (tmp_path / "one.csv").read_text()
