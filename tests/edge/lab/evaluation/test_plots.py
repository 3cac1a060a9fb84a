"""The evaluation's plots: which panel each alert goes on, the empty cohort, the look-back
cap (issue 14, "Plots"). The drawing itself needs the optional matplotlib; what is decided
before drawing is tested here without it."""

from __future__ import annotations

import doctest

from edge.lab.evaluation import plots
from edge.lab.evaluation.report import markdown, summarise
from edge.lab.evaluation.runner import run_cohort


def test_every_alert_goes_on_the_panel_of_the_signal_that_raised_it() -> None:
    h = 3600.0
    alerts = {
        "capleak": [
            (1 * h, 2 * h, "hypotension"),
            (2 * h, 3 * h, "desaturation"),
            (3 * h, 4 * h, "tachycardia"),
            (4 * h, 5 * h, "weight_gain"),
            (5 * h, 6 * h, "cls_suspected"),
        ],
        "monitor": [(1 * h, 1 * h, "sbp"), (2 * h, 2 * h, "spo2"), (3 * h, 3 * h, "hr")],
        "news2": [(6 * h, 6 * h, "pulse"), (10 * h, 10 * h, "aggregate")],
    }
    ticks = plots.alert_ticks(alerts)
    codes = {p: sorted((d, c) for d, _, _, c, _ in t) for p, t in ticks.items()}
    assert codes["sbp"] == [("capleak", "hypotension"), ("monitor", "sbp")]
    assert codes["spo2"] == [("capleak", "desaturation"), ("monitor", "spo2")]
    assert codes["hr"] == [("capleak", "tachycardia"), ("monitor", "hr"), ("news2", "pulse")]
    assert codes["weight"] == [("capleak", "weight_gain")]
    assert codes["other"] == [("capleak", "cls_suspected"), ("news2", "aggregate")]
    rows = {d: row for t in ticks.values() for d, row, *_ in t}
    assert rows == {"capleak": 0, "monitor": 1, "news2": 2}  # one row per detector
    assert all(labelled for t in ticks.values() for *_, labelled in t)


def test_ticks_close_together_share_one_label() -> None:
    h = 3600.0
    evs = [(t * h, t * h, "hr") for t in (1.0, 1.5, 2.0, 5.0)]
    (ticks,) = [t for t in plots.alert_ticks({"monitor": evs}).values() if t]
    assert [labelled for *_, labelled in ticks] == [True, False, False, True]


def test_an_empty_cohort_says_so_and_the_lookback_cap_is_explained() -> None:
    runs = run_cohort(2, seed=5, days=0.2, detector=None, jobs=1)
    meta = {"seed": 5, "days": 0.2, "command": "t", "jobs": 1, "wall_seconds": 0.0}
    summary = summarise(runs, meta)
    assert {r.truth["severity"] for r in runs} <= {"none", "mild"}
    assert plots.nothing_to_show(summary) == (
        "no moderate or severe CLS patient in this cohort: no lead times to show"
    )
    assert "no lead time exceeds 12 h" in plots.LOOKBACK_NOTE
    md = markdown(summary)
    assert "lead time h (cap 12)" in md and "capped at 12 h by that look-back" in md


def test_docstring_examples() -> None:
    result = doctest.testmod(plots)
    assert result.failed == 0 and result.attempted > 0
