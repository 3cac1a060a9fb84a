"""The pre-dose check: the IL-2 dose schedule and the hold criteria at each dose.

Issue #4, "Pre-dose check". The schedule comes from the configuration
(``patient.dose_start`` + ``k * dose_interval_h``, ``k < max_doses``) or, once
doses are recorded, from the last dose given (next due = last + interval).
``thresholds.dose_check_lead_min`` before each due dose the core lists every
hold criterion with its current value and whether it is met
(``shared/docs/clinical.md``, "Hold / stop criteria": Proleukin label 2.4
SBP < 90 and SpO2 < 90; Dutcher 2014 Table 3 weight gain > 15 %, HR > 130
absolute, HR 100-130 relative; Betof Warner 2024 checks BP about 2 h before
each dose). The check supports the decision; it never makes it.

>>> s = DoseSchedule(start=0.0, interval_s=8 * 3600.0, max_doses=14, lead_s=7200.0)
>>> s.check_due(3600.0), s.check_due(21700.0)
(None, 28800.0)
>>> s.check_due(21800.0) is None     # one check per due dose
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edge.vocabulary import iso_time


@dataclass(frozen=True, slots=True)
class HoldCriterion:
    """One hold criterion at check time: its current value, the limit, and whether it is met.

    ``value`` is ``None`` when there is no recent data for it (then ``met`` is False
    and the check says so: a missing value is never reported as reassuring).
    """

    name: str
    value: float | None
    limit: str
    met: bool
    unit: str
    kind: str  # "label", "absolute" or "relative"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else round(self.value, 2),
            "limit": self.limit,
            "met": self.met,
            "unit": self.unit,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class DoseCheck:
    """The pre-dose check for the dose due at ``due``, made at ``time``."""

    time: float
    due: float
    dose_number: int
    criteria: tuple[HoldCriterion, ...]

    @property
    def hold_advised(self) -> bool:
        return any(c.met for c in self.criteria)

    @property
    def met(self) -> tuple[HoldCriterion, ...]:
        return tuple(c for c in self.criteria if c.met)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "dose_check",
            "time": iso_time(self.time),
            "due": iso_time(self.due),
            "dose_number": self.dose_number,
            "hold_advised": self.hold_advised,
            "criteria": [c.to_dict() for c in self.criteria],
        }


class DoseSchedule:
    """When doses are due and when each one's check is due."""

    __slots__ = ("checked_due", "given", "interval_s", "last_dose", "lead_s", "max_doses", "start")

    def __init__(
        self, start: float | None, interval_s: float, max_doses: int, lead_s: float
    ) -> None:
        self.start = start
        self.interval_s = interval_s
        self.max_doses = max_doses
        self.lead_s = lead_s
        self.last_dose: float | None = None
        self.given = 0
        self.checked_due = -math.inf

    def dose(self, time: float) -> None:
        """Record a dose given at ``time``."""
        if self.last_dose is None or time > self.last_dose:
            self.last_dose = time
        self.given += 1

    def _due_time(self, now: float) -> float | None:
        """The time of the next due dose at or after ``now``, or None (no tuple: once a second)."""
        if self.last_dose is not None:
            return None if self.given >= self.max_doses else self.last_dose + self.interval_s
        if self.start is None:
            return None
        k = max(0, math.ceil((now - self.start) / self.interval_s))
        return None if k >= self.max_doses else self._nth_due(k)

    def _nth_due(self, k: int) -> float:
        """The configured due time of dose ``k + 1`` (increases with ``k``)."""
        assert self.start is not None
        return self.start + k * self.interval_s

    def next_due(self, now: float) -> tuple[float, int] | None:
        """The next due dose at or after ``now`` (time, dose number), or None."""
        due = self._due_time(now)
        if due is None:
            return None
        if self.last_dose is not None:
            return due, self.given + 1
        assert self.start is not None
        return due, round((due - self.start) / self.interval_s) + 1

    def check_due(self, now: float) -> float | None:
        """The due time whose check should run now (once per due dose), else None."""
        due = self._due_time(now)
        if due is None:
            return None
        if due - self.lead_s <= now <= due and due > self.checked_due:
            self.checked_due = due
            return due
        return None

    def next_check(self) -> float:
        """A time before which :meth:`check_due` returns None, whatever time it is asked.

        The check of a due time runs from ``lead_s`` before it, once, so this is the
        earliest due time not checked yet, less ``lead_s`` (``inf``: none before the next
        dose is recorded). Only :meth:`check_due` and :meth:`dose` change it.

        >>> s = DoseSchedule(start=0.0, interval_s=8 * 3600.0, max_doses=2, lead_s=7200.0)
        >>> s.next_check(), s.check_due(s.next_check()), s.next_check()
        (-7200.0, 0.0, 21600.0)
        >>> s.check_due(21600.0), s.next_check()
        (28800.0, inf)
        """
        checked = self.checked_due
        if self.last_dose is not None:
            due = self.last_dose + self.interval_s
            if self.given >= self.max_doses or due <= checked:
                return math.inf
            return due - self.lead_s
        if self.start is None:
            return math.inf
        # check_due asks about some dose k: one already checked has a due time <= checked
        k = 0 if checked < self.start else math.floor((checked - self.start) / self.interval_s)
        while k < self.max_doses and self._nth_due(k) <= checked:
            k += 1
        return self._nth_due(k) - self.lead_s if k < self.max_doses else math.inf

    def dose_number(self, due: float) -> int:
        if self.last_dose is not None:
            return self.given + 1
        if self.start is None:
            return 0
        return round((due - self.start) / self.interval_s) + 1
