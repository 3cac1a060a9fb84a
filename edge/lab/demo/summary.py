"""The end of the demo: the alerts raised and when, against the virtual patient's hold criteria."""

from __future__ import annotations

from typing import Any

from edge.lab.demo.alerts import SeenAlert, course_time
from edge.lab.demo.course import Course

#: Which alert codes answer which hold criterion of the virtual patient's truth.
CRITERION_ALERTS: dict[str, tuple[str, ...]] = {
    "sbp": ("hypotension", "bp_falling"),
    "spo2": ("desaturation", "spo2_falling"),
    "weight": ("weight_gain",),
    "hr": ("tachycardia",),
}

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
    raised = [a for a in alerts if a.phase in ("start", "escalate")]
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
        "Hold criteria (decision support: the clinician decides):",
        f"  {'criterion':<34} {'truly first met':<16} {'first related alert':<34} lead",
    ]
    names = {
        "sbp": f"SBP < {thresholds.hold_sbp_mmhg:g} mmHg",
        "spo2": f"SpO2 < {thresholds.hold_spo2_pct:g} %",
        "weight": f"weight gain > {thresholds.hold_weight_gain_pct:g} %",
        "hr": f"HR > {thresholds.hold_hr_absolute_bpm:g} /min",
    }
    crit = course.truth.get("hold_criteria_first_met_s", {})
    for key, label in names.items():
        met = crit.get(key)
        met_t = None if met is None else course.start + float(met)
        related = [a for a in raised if a.code in CRITERION_ALERTS[key]]
        # An alert long before the criterion is not its warning (the evaluation's
        # detection window looks back LEAD_WINDOW_H too): say so rather than claim a lead.
        stale = [] if met_t is None else [a for a in related if a.time < met_t - LEAD_WINDOW_S]
        related = [a for a in related if a not in stale]
        first = min(related, key=lambda a: a.time) if related else None
        met_s = "not met" if met_t is None else course_time(met_t, course.start)
        alert_s = "-" if first is None else f"{first.code} {course_time(first.time, course.start)}"
        if met_t is not None and first is not None:
            lead_h = (met_t - first.time) / 3600
            lead = f"{lead_h:+.1f} h" + (" (before)" if lead_h >= 0 else " (after)")
        elif met_t is not None:
            lead = "MISSED"
        else:
            lead = "" if first is None else "(no criterion met: early warning or false alert)"
        if stale:
            lead += f" ({len(stale)} earlier, > {LEAD_WINDOW_H:g} h before: not counted)"
        lines.append(f"  {label:<34} {met_s:<16} {alert_s:<34} {lead}")
    holds = [a for a in raised if a.code == "dose_hold_advised"]
    first_hold = course.truth.get("first_hold_s")
    lines.append(
        "  first dose hold advised: "
        + (course_time(holds[0].time, course.start) if holds else "never")
        + "; first hold criterion truly met: "
        + ("never" if first_hold is None else course_time(course.start + first_hold, course.start))
    )
    return "\n".join(lines)
