"""The evaluation report: a JSON document, a markdown table, and optional PNG plots.

Plots (:mod:`edge.lab.evaluation.plots`) need matplotlib, the optional ``report`` extra
(``pip install capleak[report]``); without it the report says so, with the exact command.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from edge.lab.evaluation.metrics import (
    CLS_CLASSES,
    EVIDENCE_CODES,
    EVIDENCE_CRITERIA,
    active_at_hold,
    alarm_load,
    false_by_code,
    score,
)
from edge.lab.evaluation.runner import PatientRun

log = logging.getLogger(__name__)

DETECTORS = ("capleak", "monitor", "news2")

#: Targets from the issue (#6).
TARGETS = {
    "sensitivity": 0.95,
    "median_lead_h": 2.0,
    "false_per_patient_day_no_cls": 0.05,
    "cohort_200x5d_s": 300.0,
}


def summarise(runs: list[PatientRun], meta: dict[str, Any]) -> dict[str, Any]:
    outcomes = [r.outcome for r in runs]
    classes = Counter(r.truth["severity"] for r in runs)
    drawn = Counter(r.truth["drawn_severity"] for r in runs)
    first = Counter(
        r.truth["first_hold_criterion"] for r in runs if r.truth["first_hold_criterion"]
    )
    detectors = [d for d in DETECTORS if any(d in o.alerts for o in outcomes)]
    table: dict[str, Any] = {}
    for d in detectors:
        indicators = sorted({ind for o in outcomes for _, _, ind in o.alerts.get(d, [])})
        table[d] = {
            "overall": score(outcomes, d),
            "indicators": {ind: score(outcomes, d, ind) for ind in indicators},
        }
    seconds = {k: sum(r.seconds.get(k, 0.0) for r in runs) for k in ("generate", "detector")}
    seconds["comparators"] = sum(r.seconds.get("comparators", 0.0) for r in runs)
    focus: dict[str, Any] = {}
    if "capleak" in detectors:
        focus = {
            "false_by_code": false_by_code(outcomes, "capleak"),
            "evidence": score(outcomes, "capleak", EVIDENCE_CODES),
            "evidence_on_evidence_first": score(
                [o for o in outcomes if o.first_hold_criterion in EVIDENCE_CRITERIA],
                "capleak",
                EVIDENCE_CODES,
            ),
            "active_at_hold": active_at_hold(outcomes, "capleak"),
            "alarm_load": alarm_load([r.load for r in runs], outcomes),
        }
    return {
        **meta,
        "cohort": {
            "patients": len(runs),
            "patient_days": sum(o.duration_s for o in outcomes) / 86400.0,
            "severity": {c: classes.get(c, 0) for c in ("none", "mild", *CLS_CLASSES)},
            "drawn_severity": dict(sorted(drawn.items())),
            "first_hold_criterion": dict(sorted(first.items())),
            "readings": sum(r.readings for r in runs),
            "cpu_seconds": {k: round(v, 1) for k, v in seconds.items()},
        },
        "results": table,
        "focus": focus,
        "patients": [_patient_record(r) for r in runs],
    }


def _h(x: float | None) -> float | None:
    return None if x is None else round(x / 3600.0, 2)


def _patient_record(r: PatientRun) -> dict[str, Any]:
    """Per-patient drill-down: truth and capleak/NEWS2 alert episodes (hours from start)."""
    t = r.truth
    o = r.outcome
    rec: dict[str, Any] = {
        "index": o.index,
        "severity": o.severity,
        "drawn_severity": t["drawn_severity"],
        "subtype": t["subtype"],
        "onset_h": _h(o.onset_s),
        "first_hold_h": _h(o.first_hold_s),
        "first_hold_criterion": t["first_hold_criterion"],
        "hold_criteria_h": {k: _h(v) for k, v in t["hold_criteria_first_met_s"].items()},
        "max_weight_gain_pct": t["max_weight_gain_pct"],
        "min_sbp": t["min_sbp"],
        "min_spo2": t["min_spo2"],
        "max_hr": t["max_hr"],
        "alert_counts": {d: len(a) for d, a in o.alerts.items()},
    }
    for d in ("capleak", "news2"):
        if d in o.alerts:
            rec[d] = [
                [round(s / 3600.0, 2), round(min(e, o.duration_s) / 3600.0, 2), ind]
                for s, e, ind in o.alerts[d]
            ]
    return rec


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _lead(s: dict[str, Any]) -> str:
    lt = s["lead_time_h"]
    if lt["median"] is None:
        return "-"
    return f"{lt['median']:.1f} ({lt['q1']:.1f}-{lt['q3']:.1f})"


def _row(name: str, s: dict[str, Any]) -> str:
    byc = s["sensitivity_by_class"]
    return (
        f"| {name} | {_pct(s['sensitivity'])} ({s['detected']}/{s['events']}) "
        f"| {_pct(s['chance_hit_rate'])} "
        f"| {_pct(byc['moderate'])} | {_pct(byc['severe'])} | {_lead(s)} "
        f"| {_f(s['false_per_patient_day_no_cls'], '{:.3f}')} "
        f"| {_f(s['false_per_patient_day_pre_onset'], '{:.3f}')} "
        f"| {_f(s['alerts_per_patient_day_mild'], '{:.3f}')} "
        f"| {_f(s['alerts_per_true_event'], '{:.1f}')} |"
    )


def markdown(summary: dict[str, Any]) -> str:
    c = summary["cohort"]
    model = summary.get("artifact_model")
    lines = [
        f"# capleak evaluation: {c['patients']} virtual patients, seed {summary['seed']}"
        + (f", artifact model {model.upper()}" if model else ""),
        "",
        f"Command: `{summary['command']}`",
        "",
        f"- {c['patient_days']:.0f} patient-days, {c['readings']:,} readings; "
        f"wall time {summary['wall_seconds']:.0f} s with {summary['jobs']} worker(s).",
        "- Outcome classes: "
        + ", ".join(f"{k} {v}" for k, v in c["severity"].items())
        + "; first hold criterion: "
        + (", ".join(f"{k} {v}" for k, v in c["first_hold_criterion"].items()) or "none"),
        "- Sensitivity counts moderate/severe patients alerted (medium/high) from "
        "max(onset, first hold criterion - 12 h) to 1 h after the first hold criterion; lead "
        "time is median (IQR) hours before it, capped at 12 h by that look-back (an alert "
        "already active when the window opens counts as 12 h); 'by chance' is the share "
        "of such windows that the detector's no-CLS alert rate alone would hit. "
        "False alerts are medium/high physiological alerts per patient-day.",
        "",
        "| detector / indicator | sensitivity | by chance | moderate | severe "
        "| lead time h (cap 12) | false /pt-day no CLS | false /pt-day CLS pre-onset "
        "| /pt-day mild | alerts per event |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d, res in summary["results"].items():
        lines.append(_row(f"**{d}**", res["overall"]))
        for ind, s in res["indicators"].items():
            lines.append(_row(f"{d}: {ind}", s))
    lines.append("")
    for note in summary.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def _codes(by_code: dict[str, int], top: int = 4) -> str:
    items = sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in items[:top]) or "none"


def _side_rows(s: dict[str, Any]) -> list[str]:
    """One model's column of the side-by-side table (capleak only)."""
    f = s.get("focus") or {}
    if not f:
        return ["-"] * len(SIDE_LABELS)
    fb = f["false_by_code"]
    allc = s["results"]["capleak"]["overall"]
    ev = f["evidence"]
    ah = f["active_at_hold"]
    al = f["alarm_load"]
    hd = ah["first_low_cuff"]["hypotension_delay_min"]
    per = al["capleak_per_bed_day"]

    def rate(x: dict[str, Any]) -> str:
        dips = x.get("during_real_dip", 0)
        return f"{_f(x['per_patient_day'], '{:.3f}')} ({x['starts']}: {_codes(x['by_code'])})" + (
            f"; {dips} during a real sleep dip" if dips else ""
        )

    def sens(x: dict[str, Any]) -> str:
        return f"{_pct(x['sensitivity'])} ({x['detected']}/{x['events']}), lead {_lead(x)} h"

    return [
        f"{s['cohort']['patients']} patients, {s['cohort']['patient_days']:.0f} patient-days "
        f"({', '.join(f'{k} {v}' for k, v in s['cohort']['severity'].items())})",
        rate(fb["none"]),
        rate(fb["mild"]),
        sens(allc) + f"; by chance {_pct(allc['chance_hit_rate'])}",
        sens(ev) + f"; by chance {_pct(ev['chance_hit_rate'])}",
        sens(f["evidence_on_evidence_first"]),
        f"{ah['first_hold']['with_alert_active']}/{ah['first_hold']['patients']} "
        f"({_codes(ah['first_hold']['by_code'])})",
        f"{ah['first_low_cuff']['with_alert_active']}/{ah['first_low_cuff']['patients']} "
        f"({_codes(ah['first_low_cuff']['by_code'])})",
        f"median {_f(hd['median'], '{:.0f}')} min (n={hd['n']}), never in {hd['never']}",
        f"{_f(per.get('physiological'), '{:.2f}')} physiological, "
        f"{_f(per.get('technical'), '{:.2f}')} technical; "
        f"{_f(per.get('any'), '{:.2f}')} at any priority",
        f"{_f(al['monitor_per_bed_day'], '{:.1f}')}",
        f"{s['cohort']['readings']:,} readings, {s['wall_seconds']:.0f} s",
    ]


SIDE_LABELS = (
    "cohort",
    "false medium/high physiological alert starts per no-CLS patient-day (starts: top codes)",
    "the same on mild CLS patients",
    "sensitivity moderate/severe, any code; median (IQR) lead",
    "sensitivity and lead from BP/weight/SpO2-trend evidence only ("
    + ", ".join(EVIDENCE_CODES)
    + ")",
    "... the same, on the events whose first hold criterion is SBP, SpO2 or weight (not HR)",
    "moderate/severe patients with a medium/high alert ACTIVE at the first hold criterion",
    "... active 60 s after the first truly low cuff reading (SBP < 90)",
    "first truly low cuff reading -> `hypotension`",
    "capleak medium/high alarm starts per bed-day (Drew 2014: 187 audible alarms per ICU bed-day)",
    "threshold bedside monitor alarms per bed-day (same streams)",
    "size and wall time",
)


def side_by_side(summaries: dict[str, dict[str, Any]]) -> str:
    """Markdown: one column per artifact model, the figures issue #12 asks for."""
    names = list(summaries)
    cols = {m: _side_rows(summaries[m]) for m in names}
    first = summaries[names[0]]
    count = {2: "two", 3: "three", 4: "four"}.get(len(names), str(len(names)))
    lines = [
        f"# capleak on {count} artifact models"
        if len(names) > 1
        else f"# capleak on artifact model {names[0].upper()}",
        "",
        f"Seeds fixed up front: cohort seed {first['seed']}, {first['days']:g} days per "
        "patient; the same patients (parameters, physiology, truth) under each model. The "
        "core was tuned on model A (edge/lab/patient/measurement.py) and on seed 1 of model "
        "B (edge/lab/patient/artifacts_b/, written without reading A); model C "
        "(edge/lab/patient/artifacts_c/) was written without reading A, B or the core, and "
        "only its seed 4 was tuned on (the weight gate); model D (edge/lab/patient/"
        "artifacts_d/) was written without reading A, B, C or the core, and only its seed 6 "
        "was tuned on (docs/evaluation.md).",
        "",
        "| figure | " + " | ".join(f"model {m.upper()}" for m in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for i, label in enumerate(SIDE_LABELS):
        lines.append(f"| {label} | " + " | ".join(cols[m][i] for m in names) + " |")
    return "\n".join(lines) + "\n"


def combine(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One JSON document for several artifact models: the first model's summary at the
    top level (so readers of a one-model report keep working), the others under
    ``artifact_models``, and the side-by-side table as markdown."""
    names = list(summaries)
    out = dict(summaries[names[0]])
    out["artifact_models"] = {m: summaries[m] for m in names[1:]}
    out["side_by_side"] = side_by_side(summaries)
    return out


def write(summary: dict[str, Any], out: Path, text: str | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "evaluation.json", out / "evaluation.md"]
    paths[0].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(text if text is not None else markdown(summary), encoding="utf-8")
    return paths


def install_matplotlib_command() -> str:
    """The exact command that installs the ``report`` extra's matplotlib into this Python.

    >>> install_matplotlib_command().endswith("-m pip install 'matplotlib>=3.6'")
    True
    """
    import shlex
    import sys

    return f"{shlex.quote(sys.executable)} -m pip install 'matplotlib>=3.6'"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
