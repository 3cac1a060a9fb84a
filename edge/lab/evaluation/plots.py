"""The evaluation's PNG plots (matplotlib, the optional ``report`` extra).

- :func:`plot_patient`: one virtual patient: each signal, true and measured, on its own
  panel with its hold limit; every detector's alerts as ticks on the panel of the signal
  that raised them, labelled by code; NEWS2 at each observation round; doses; the times
  the hold criteria were truly first met.
- :func:`plot_lead_times`: lead time per detector, with the 12 h look-back that caps it
  (``edge/lab/evaluation/metrics.py``), or a plain statement when there is nothing to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.lab.evaluation.metrics import LOOKBACK_S

LOOKBACK_H = LOOKBACK_S / 3600.0

#: Which panel an alert belongs on, by its code or indicator (capleak codes, the
#: monitor's and NEWS2's indicators). Anything else (cls_suspected, dose_hold_advised,
#: NEWS2's aggregate) goes on the bottom panel.
PANEL_OF = {
    "hypotension": "sbp",
    "bp_falling": "sbp",
    "sbp": "sbp",
    "desaturation": "spo2",
    "spo2_falling": "spo2",
    "spo2": "spo2",
    "tachycardia": "hr",
    "hr": "hr",
    "pulse": "hr",
    "weight_gain": "weight",
    "weight": "weight",
}
PANELS = ("sbp", "spo2", "hr", "weight", "other")
DETECTOR_COLOURS = {"capleak": "black", "monitor": "tab:purple", "news2": "tab:brown"}
#: The lowest SpO2 the panel shows; readings below it are drawn on its edge.
SPO2_FLOOR = 70.0
#: Two ticks of one code on one panel closer than this share a label.
LABEL_GAP_H = 3.0


def _agg() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panel_of(code: str) -> str:
    """The panel for an alert code or comparator indicator.

    >>> panel_of("bp_falling"), panel_of("pulse"), panel_of("cls_suspected")
    ('sbp', 'hr', 'other')
    """
    return PANEL_OF.get(code, "other")


def alert_ticks(
    alerts: dict[str, list[tuple[float, float, str]]],
) -> dict[str, list[tuple[str, int, float, str, bool]]]:
    """Per panel: ``(detector, row, hours, code, labelled)`` for each alert start.

    Each detector has its own row of ticks at the top of a panel; a tick is labelled with
    its code unless the same detector's previous label of that code on that panel is
    less than :data:`LABEL_GAP_H` earlier.

    >>> t = alert_ticks({"capleak": [(3600.0, 7200.0, "hypotension"),
    ...                              (7200.0, 9000.0, "hypotension"),
    ...                              (36000.0, 40000.0, "cls_suspected")],
    ...                  "news2": [(7200.0, 7200.0, "pulse")]})
    >>> t["sbp"]
    [('capleak', 0, 1.0, 'hypotension', True), ('capleak', 0, 2.0, 'hypotension', False)]
    >>> t["hr"], t["other"]
    ([('news2', 2, 2.0, 'pulse', True)], [('capleak', 0, 10.0, 'cls_suspected', True)])
    """
    rows = {d: i for i, d in enumerate(DETECTOR_COLOURS)}
    out: dict[str, list[tuple[str, int, float, str, bool]]] = {p: [] for p in PANELS}
    for d, evs in alerts.items():
        row = rows.get(d, len(rows))
        last: dict[tuple[str, str], float] = {}
        for t, _end, code in sorted(evs):
            h = t / 3600.0
            panel = panel_of(code)
            prev = last.get((panel, code))
            labelled = prev is None or h - prev >= LABEL_GAP_H
            if labelled:
                last[(panel, code)] = h
            out[panel].append((d, row, h, code, labelled))
    return out


def plot_patient(
    scenario: Any, alerts: dict[str, list[tuple[float, float, str]]], path: Path
) -> None:
    """One patient's true and measured trends, each detector's alerts, NEWS2, hold criteria."""
    import numpy as np

    from edge.lab.evaluation.comparators import NEWS2_ALERT_SCORE, news2_rounds
    from edge.lab.evaluation.runner import news2_rng

    plt = _agg()
    tr = scenario.trajectory
    st = scenario.streams
    truth = scenario.truth
    h = tr.t / 3600.0
    start = st.start
    fig, axs = plt.subplots(
        5, 1, figsize=(13, 12), sharex=True, gridspec_kw={"height_ratios": [3, 3, 3, 3, 2]}
    )
    ax = dict(zip(PANELS, axs, strict=True))
    step = max(1, len(st.ox_t) // 15000)
    ox_h = (st.ox_t[::step] - start) / 3600.0

    a = ax["sbp"]
    a.plot(h, tr.sbp, color="tab:red", lw=0.7, label="true SBP")
    a.plot((st.nibp_t - start) / 3600.0, st.sbp, "o", color="darkred", ms=3, label="NIBP cycle")
    a.axhline(90, color="grey", ls=":", label="hold: SBP < 90")
    a.set_ylabel("SBP mmHg")

    a = ax["spo2"]
    a.plot(
        ox_h,
        np.clip(st.spo2[::step], SPO2_FLOOR, None),
        ".",
        color="tab:cyan",
        ms=1.5,
        alpha=0.5,
        label=f"oximeter (below {SPO2_FLOOR:g}: on the edge)",
    )
    a.plot(h, tr.spo2, color="tab:blue", lw=0.8, label="true SpO2")
    a.axhline(90, color="grey", ls=":", label="hold: SpO2 < 90")
    a.set_ylim(SPO2_FLOOR - 1, 101)
    a.set_ylabel("SpO2 %")

    a = ax["hr"]
    a.plot(ox_h, st.pulse[::step], ".", color="navajowhite", ms=1.5, label="oximeter pulse")
    a.plot(h, tr.hr, color="tab:orange", lw=0.8, label="true HR")
    a.axhspan(100, 130, color="tab:orange", alpha=0.08, label="relative hold: HR 100-130")
    a.axhline(130, color="grey", ls=":", label="hold: HR > 130")
    a.set_ylim(max(30.0, float(np.min(tr.hr)) - 15), max(160.0, float(np.max(tr.hr)) + 10))
    a.set_ylabel("HR /min")

    a = ax["weight"]
    a.plot(h, tr.weight, color="tab:green", lw=0.8, label="true weight")
    a.plot((st.wt_t - start) / 3600.0, st.weight, "o", color="darkgreen", ms=2.5, label="scale")
    w0 = truth["dry_weight_kg"]
    a.axhline(1.15 * w0, color="grey", ls=":", label="hold: weight gain > 15 %")
    a.set_ylim(w0 * 0.95, max(w0 * 1.2, float(np.max(tr.weight)) + 1))
    a.set_ylabel("weight kg")

    a = ax["other"]
    rounds = news2_rounds(st, tr.t, tr.temp, tr.oxygen, news2_rng(scenario.seed, scenario.index))
    if rounds:
        a.step(
            [(t - start) / 3600.0 for t, _ in rounds],
            [sum(p.values()) for _, p in rounds],
            where="post",
            color="tab:brown",
            lw=1,
            label="NEWS2 (partial) per round",
        )
    a.axhline(NEWS2_ALERT_SCORE, color="grey", ls=":", label=f"NEWS2 alert: >= {NEWS2_ALERT_SCORE}")
    a.set_ylim(-0.5, 12)
    a.set_ylabel("NEWS2 / other")
    a.set_xlabel("hours from admission")

    for i, t in enumerate(truth["doses_given_s"]):
        for a in axs:
            a.axvline(
                t / 3600.0,
                color="lightgrey",
                lw=0.6,
                zorder=0,
                label="dose given" if i == 0 and a is axs[0] else None,
            )
    for i, t in enumerate(truth["doses_held_s"]):
        for a in axs:
            a.axvline(
                t / 3600.0,
                color="tab:pink",
                lw=0.8,
                ls="-.",
                zorder=0,
                label="dose held" if i == 0 and a is axs[0] else None,
            )
    truth_panel = {"sbp": "sbp", "spo2": "spo2", "hr": "hr", "weight": "weight"}
    first_line = True
    for k, t in truth["hold_criteria_first_met_s"].items():
        if t is None:
            continue
        for a in axs:
            a.axvline(
                t / 3600.0,
                color="red",
                ls="--",
                lw=1,
                label="hold criterion truly met" if first_line and a is axs[0] else None,
            )
        first_line = False
        a = ax[truth_panel.get(k, "sbp")]
        a.text(
            t / 3600.0,
            0.02,
            f" {k} hold truly met",
            color="red",
            fontsize=8,
            transform=a.get_xaxis_transform(),
        )

    seen: set[str] = set()
    for panel, ticks in alert_ticks(alerts).items():
        a = ax[panel]
        for d, row, x, code, labelled in ticks:
            colour = DETECTOR_COLOURS.get(d, "k")
            top = 0.98 - 0.09 * row
            a.axvline(
                x,
                ymin=top - 0.07,
                ymax=top,
                color=colour,
                lw=1.2,
                label=f"{d} alert" if d not in seen else None,
            )
            seen.add(d)
            if labelled:
                a.text(
                    x,
                    top - 0.075,
                    f"{code} ",
                    color=colour,
                    fontsize=6.5,
                    rotation=90,
                    ha="right",
                    va="top",
                    transform=a.get_xaxis_transform(),
                )
    for a in axs:
        a.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    axs[0].set_title(
        f"virtual patient {scenario.index} (seed {scenario.seed}): {truth['severity']}, "
        f"drawn {' '.join(filter(None, (truth['drawn_severity'], truth['subtype'])))}; "
        "alert ticks: capleak (top row), monitor, NEWS2",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Under the lead-time plot and in the report's table (``report.markdown``).
LOOKBACK_NOTE = (
    f"Alerts count from max(onset, first hold - {LOOKBACK_H:g} h) to first hold + 1 h; an "
    f"alert already active when that window opens counts as {LOOKBACK_H:g} h, so no lead "
    f"time exceeds {LOOKBACK_H:g} h (the look-back cap)."
)


def nothing_to_show(summary: dict[str, Any]) -> str | None:
    """Why the lead-time plot has no data, or None when it has some.

    >>> nothing_to_show({"results": {}})
    'no moderate or severe CLS patient in this cohort: no lead times to show'
    >>> o = {"events": 2, "lead_times_h": [], "lead_time_h": {"n": 0}}
    >>> nothing_to_show({"results": {"capleak": {"overall": o}}})
    '2 moderate/severe patient(s), none alerted in the detection window: no lead times'
    >>> nothing_to_show({"results": {"capleak": {"overall": {**o, "lead_times_h": [1.5]}}}})
    """
    overall = [r["overall"] for r in summary.get("results", {}).values()]
    if any(o["lead_times_h"] for o in overall):
        return None
    events = max((int(o.get("events", 0)) for o in overall), default=0)
    if events == 0:
        return "no moderate or severe CLS patient in this cohort: no lead times to show"
    return (
        f"{events} moderate/severe patient(s), none alerted in the detection window: no lead times"
    )


def plot_lead_times(summary: dict[str, Any], path: Path) -> None:
    """Lead time per detector before the first hold criterion, capped by the look-back."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    results = summary.get("results", {})
    data: list[list[float]] = []
    labels = []
    for d, res in results.items():
        o = res["overall"]
        data.append(o["lead_times_h"] or [float("nan")])
        n = o["lead_time_h"]["n"]
        labels.append(f"{d} (n={n} of {o['events']})" + ("" if n else ": none alerted"))
    ax.set_title("Lead time before the first hold criterion, moderate and severe CLS")
    ax.set_xlabel("lead time before the first hold criterion (h)")
    why = nothing_to_show(summary)
    if why is not None:
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, wrap=True)
        ax.set_yticks([])
        ax.set_xlim(-1, LOOKBACK_H + 1)
    else:
        ax.boxplot(data, vert=False)
        for i, values in enumerate(data, start=1):  # every lead, so a small n is visible
            ax.plot(values, [i] * len(values), "o", color="tab:blue", ms=3, alpha=0.6)
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.axvline(2.0, color="tab:green", ls="--", label="target 2 h")
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.axvline(LOOKBACK_H, color="tab:red", ls=":", label=f"look-back cap {LOOKBACK_H:g} h")
        ax.set_xlim(min(-1.0, ax.get_xlim()[0]), LOOKBACK_H + 1)
        ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.01, LOOKBACK_NOTE, fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
