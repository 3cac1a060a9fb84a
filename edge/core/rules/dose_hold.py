"""The advisory rule: ``dose_hold_advised`` from the pre-dose check's hold criteria."""

from __future__ import annotations

import math

from edge.config import Thresholds
from edge.core.dose import DoseCheck, HoldCriterion
from edge.core.indicators import Condition
from edge.core.rules.base import Rule, r1
from edge.core.trend import ExpAverage
from edge.core.validation import NibpCycle
from edge.vocabulary import Alert, AlertCode, Priority


class DoseHold(Rule):
    """``dose_hold_advised`` (medium): a hold criterion is met at the pre-dose check.

    :meth:`criteria` lists every hold criterion with its current value
    (``shared/docs/clinical.md``, "Hold / stop criteria": Proleukin label 2.4 SBP
    < 90 and SpO2 < 90; Dutcher 2014 Table 3 weight gain > 15 %, HR > 130
    absolute, HR 100-130 relative). A value older than ``recent_s`` (NIBP:
    ``recent_nibp_s``) is missing, never reassuring. :meth:`check` turns them into
    the :class:`~edge.core.dose.DoseCheck` and the advice; the advice ends when the
    dose is given, when its due time passes, or when a later check finds nothing.

    >>> from edge.config import Thresholds
    >>> from edge.core.trend import ExpAverage
    >>> rule = DoseHold.from_thresholds(Thresholds())
    >>> crit = rule.criteria(7200.0, None, (7000.0, 88.0), None, ExpAverage(300.0))
    >>> [(c.name, c.met) for c in crit][:2]
    [('sbp', False), ('spo2', True)]
    >>> check, alert = rule.check(7200.0, 14400.0, 1, crit)
    >>> check.hold_advised, alert.priority.value, alert.values
    (True, 'medium', {'spo2': 88.0, 'minutes_to_dose': 120.0})
    >>> rule.tick(14400.0).phase.value
    'end'
    """

    __slots__ = ("hold_until", "recent_nibp_s", "recent_s", "th")

    def __init__(self, th: Thresholds) -> None:
        self.th = th
        self.recent_s = th.hold_recent_min * 60.0
        self.recent_nibp_s = th.hold_recent_nibp_min * 60.0
        self.hold_until = math.inf  # the due time of the dose the advice is about
        self.condition = Condition(AlertCode.DOSE_HOLD_ADVISED)

    @classmethod
    def from_thresholds(cls, th: Thresholds) -> DoseHold:
        return cls(th)

    def criteria(
        self,
        now: float,
        cycle: NibpCycle | None,
        spo2_minute: tuple[float, float] | None,
        weight_gain_pct: float | None,
        pulse: ExpAverage,
    ) -> tuple[HoldCriterion, ...]:
        """Every hold criterion at ``now`` from the last NIBP ``cycle``, the last SpO2
        minute ``(time, mean)``, the weight gain and the smoothed ``pulse``."""
        th = self.th
        sbp = None
        if cycle is not None and cycle.sbp is not None and now - cycle.time <= self.recent_nibp_s:
            sbp = cycle.sbp
        spo2 = None
        if spo2_minute is not None and now - spo2_minute[0] <= self.recent_s:
            spo2 = spo2_minute[1]
        gain = weight_gain_pct
        hr = pulse.value if now - pulse.last_time <= self.recent_s else None
        rel, ab = th.hold_hr_relative_bpm, th.hold_hr_absolute_bpm
        return (
            HoldCriterion(
                "sbp",
                sbp,
                f"< {th.hold_sbp_mmhg:g}",
                sbp is not None and sbp < th.hold_sbp_mmhg,
                "mm[Hg]",
                "label",
            ),
            HoldCriterion(
                "spo2",
                spo2,
                f"< {th.hold_spo2_pct:g}",
                spo2 is not None and spo2 < th.hold_spo2_pct,
                "%",
                "label",
            ),
            HoldCriterion(
                "weight_gain",
                gain,
                f"> {th.hold_weight_gain_pct:g}",
                gain is not None and gain > th.hold_weight_gain_pct,
                "%",
                "relative",
            ),
            HoldCriterion(
                "hr_absolute", hr, f"> {ab:g}", hr is not None and hr > ab, "/min", "absolute"
            ),
            HoldCriterion(
                "hr_relative",
                hr,
                f"{rel:g}-{ab:g}",
                hr is not None and rel <= hr <= ab,
                "/min",
                "relative",
            ),
        )

    def check(
        self, t: float, due: float, number: int, criteria: tuple[HoldCriterion, ...]
    ) -> tuple[DoseCheck, Alert | None]:
        """The pre-dose check at ``t`` for dose ``number`` due at ``due``, and its advice."""
        check = DoseCheck(t, due, number, criteria)
        cond = self.condition
        if check.hold_advised:
            names = ", ".join(f"{c.name} {c.value:.1f} ({c.limit})" for c in check.met)
            values = {c.name: round(c.value, 2) for c in check.met if c.value is not None}
            values["minutes_to_dose"] = r1((due - t) / 60.0)
            self.hold_until = due
            msg = f"pre-dose check: hold criterion met: {names}"
            alert = cond.force(t, Priority.MEDIUM, msg, values)
            if alert is None:  # still active from an earlier check: say it again
                cond.force(t, None, "", {})
                alert = cond.force(t, Priority.MEDIUM, msg, values)
            return check, alert
        if cond.active:
            self.hold_until = math.inf
            return check, cond.force(t, None, "pre-dose check: no hold criterion met", {})
        return check, None

    @property
    def due(self) -> float:
        """When :meth:`tick` ends the advice (``inf``: no advice)."""
        return self.hold_until if self.condition.active else math.inf

    def tick(self, t: float) -> Alert | None:
        """The time is ``t``: the advice ends when the dose's due time has passed."""
        if not self.condition.active or t < self.hold_until:
            return None
        self.hold_until = math.inf
        return self.condition.force(t, None, "due time passed: pre-dose hold advice closed", {})

    def dose_given(self, t: float) -> Alert | None:
        """A dose was given at ``t``: the advice has served its purpose."""
        if not self.condition.active:
            return None
        self.hold_until = math.inf
        return self.condition.force(t, None, "dose given: pre-dose hold advice closed", {})
