"""The end of the demo: the alerts raised and when, against the virtual patient's hold criteria."""

from __future__ import annotations

from typing import Any

from edge.lab.demo.alerts import SeenAlert, course_time
from edge.lab.demo.course import Course
from edge.lab.demo.criteria import criteria, first_measured

#: Look-back for "first related alert", as in the evaluation's detection window
#: (``edge/lab/evaluation/metrics.py``).
LEAD_WINDOW_H = 12.0
LEAD_WINDOW_S = LEAD_WINDOW_H * 3600


def summary(course: Course, alerts: list[SeenAlert], thresholds: Any) -> str:
    """The alerts raised and when, against the virtual patient's hold criteria."""
    lines = [
        "",
        f"Summary: {course.severity} capillary leak (seed {course.seed}), "
        f"{course.days:g} simulated days",
        "",
        "Alerts raised (start and escalation events):",
    ]
    raised = sorted((a for a in alerts if a.phase in ("start", "escalate")), key=lambda a: a.time)
    if not raised:
        lines.append("  none")
    for a in raised:
        src = f" [{a.source}]" if a.source else ""
        lines.append(
            f"  {course_time(a.time, course.start):<13} {a.priority.upper():<6} "
            f"{a.code}{src} {a.phase}: {a.message}"
        )
    lines += [
        "",
        "Hold criteria of the pre-dose check (decision support: the clinician decides):",
        f"  {'criterion':<27} {'truly met':<12} {'first measured':<15} "
        f"{'first related alert':<28} lead",
    ]
    crit = course.truth.get("hold_criteria_first_met_s", {})
    measured = first_measured(course.per_device, course.baseline_weight_kg, thresholds)
    truly: dict[str, float | None] = {}
    for c in criteria(thresholds):
        met = crit.get(c.truth_key) if c.truth_key else course.hr_relative_true_s
        met_t = None if met is None else course.start + float(met)
        truly[c.label] = met_t
        related = [a for a in raised if a.code in c.alerts]
        # An alert long before the criterion is not its warning (the evaluation's
        # detection window looks back LEAD_WINDOW_H too): say so rather than claim a lead.
        stale = [] if met_t is None else [a for a in related if a.time < met_t - LEAD_WINDOW_S]
        related = [a for a in related if a not in stale]
        first = min(related, key=lambda a: a.time) if related else None
        met_s = "not met" if met_t is None else course_time(met_t, course.start)
        seen_t = measured.get(c.key)
        seen_s = "never" if seen_t is None else course_time(seen_t, course.start)
        alert_s = "-" if first is None else f"{first.code} {course_time(first.time, course.start)}"
        if met_t is not None and first is not None:
            lead_h = (met_t - first.time) / 3600
            lead = f"{lead_h:+.1f} h" + (" (before)" if lead_h >= 0 else " (after)")
        elif met_t is not None:
            lead = "MISSED"
        else:
            lead = "" if first is None else "(not truly met: early warning or false alert)"
        if stale:
            lead += f" ({len(stale)} earlier, > {LEAD_WINDOW_H:g} h before: not counted)"
        lines.append(f"  {c.label:<27} {met_s:<12} {seen_s:<15} {alert_s:<28} {lead}".rstrip())
    lines.append(
        "  (truly met: the true physiology past the limit for 10 min, weight at once; first "
        "measured:"
    )
    lines.append(
        "  the devices' readings as the pre-dose check reads them: a cuff SBP, a minute's "
        "mean SpO2,"
    )
    lines.append("  the weight gain, the smoothed pulse)")
    holds = [a for a in raised if a.code == "dose_hold_advised"]
    met_any = {k: v for k, v in truly.items() if v is not None}
    first_label = min(met_any, key=lambda k: met_any[k]) if met_any else None
    lines.append(
        "  first dose hold advised: "
        + (course_time(holds[0].time, course.start) if holds else "never")
        + "; first hold criterion truly met: "
        + (
            "never"
            if first_label is None
            else f"{course_time(met_any[first_label], course.start)} ({first_label})"
        )
    )
    return "\n".join(lines)
