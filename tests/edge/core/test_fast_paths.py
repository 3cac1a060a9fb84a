"""The core's shortcuts change no result (issue 12, "Speed").

Each shortcut is checked against the long way on random streams: the once-a-second
checks skipped until one is due (``Core._timed``), ``SignalLost`` keeping its next due
time, the pre-dose schedule's ``next_check``.
"""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from edge.config import BedConfig, Config, PatientConfig, Thresholds
from edge.core import Core, output_dict
from edge.core.dose import DoseSchedule
from edge.core.indicators import Condition
from edge.core.rules.base import r1
from edge.core.rules.technical import SignalLost
from edge.vocabulary import Alert, Priority, Reading

T0 = 1_780_000_000.0
BED = BedConfig("s", "u", "b")

# ---------------------------------------------------------------- the pre-dose schedule

schedules = st.builds(
    DoseSchedule,
    start=st.one_of(st.none(), st.floats(-1e5, 1e5, allow_nan=False)),
    interval_s=st.floats(3600.0, 48 * 3600.0),
    max_doses=st.integers(1, 6),
    lead_s=st.floats(0.0, 8 * 3600.0),
)
steps = st.lists(
    st.tuples(st.sampled_from(["check", "dose"]), st.floats(-2e5, 4e5, allow_nan=False)),
    max_size=40,
)


@given(schedules, steps, st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5))
def test_no_check_is_due_before_next_check(s: DoseSchedule, ops: list, fractions: list) -> None:
    for op, t in ops:
        bound = s.next_check()
        if math.isfinite(bound):
            for f in fractions:  # times before the bound, from far before to just before it
                probe = math.nextafter(bound, -math.inf) - f * 1e5
                assert s.check_due(probe) is None, (probe, bound)
        if op == "dose":
            s.dose(t)
        else:
            due = s.check_due(t)
            assert due is None or t >= bound


# ---------------------------------------------------------------- the once-a-second checks


def _config(dose_start: bool) -> Config:
    return Config(
        bed=BED,
        patient=PatientConfig(
            dose_start="2026-05-28T20:40:00Z" if dose_start else None,
            dose_interval_h=1.0,
            max_doses=4,
        ),
        thresholds=Thresholds(
            signal_lost_spo2_min=1.0,
            nibp_overdue_min=5.0,
            dose_check_lead_min=10.0,
            baseline_learn_h=0.25,
            hypotension_remeasure_min=5.0,
        ),
    )


# A stream as segments: a run of N SpO2 and pulse pairs (SpO2 about ``value``, flagged
# or not) at 1 Hz, or sparser so that a few runs span hours, or one event (an NIBP
# cycle, PI, weight, a dose, a tick and maybe a flush) after a gap of up to 20 min or a
# step back in time (late readings, timeline resets)
segments = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([1.0, 1.0, 7.0, 45.0]),
            st.floats(40.0, 100.0),
            st.integers(1, 400),
            st.sampled_from([frozenset(), frozenset(), frozenset({"sensor_off"})]),
        ),
        st.tuples(
            st.sampled_from(["pi", "nibp", "weight", "dose", "tick"]),
            st.floats(0.0, 200.0),
            st.one_of(st.floats(-30.0, 0.0), st.floats(0.0, 1200.0)),
            st.sampled_from([frozenset(), frozenset({"sensor_off"})]),
        ),
    ),
    max_size=30,
)


def _feed(core: Core, segs: list) -> list[str]:
    """Every output and the state after each segment, as JSON lines."""
    lines = []
    t = T0
    for kind, value, n, flags in segs:
        out = []
        if isinstance(kind, float):  # a run, ``kind`` seconds apart
            for i in range(n):
                t += kind
                for signal, v in (("spo2", min(100.0, value + i % 3)), ("pulse", 80.0 + i % 7)):
                    r = Reading.of(signal, v, time=t, source="ox", flags=flags)
                    out += core.update(r)
        else:
            t += n
            if kind == "dose":
                out += core.dose(t)
            elif kind == "tick":
                out += core.tick(t) + (core.flush() if value > 150.0 else [])
            elif kind == "nibp":
                for signal, v in (("sbp", 60.0 + value / 2), ("map", 50.0 + value / 4)):
                    out += core.update(Reading.of(signal, v, time=t, source="nibp"))
            else:
                out += core.update(Reading.of(kind, value, time=t, source="ox", flags=flags))
        lines += [json.dumps(output_dict(o), sort_keys=True) for o in out]
        lines.append(json.dumps([core.active, core.rejected.as_dict()], sort_keys=True))
    lines.append(json.dumps(core.snapshot(), sort_keys=True, default=repr))
    return lines


@given(segments, st.booleans())
def test_skipping_the_timed_checks_changes_nothing(segs: list, dose_start: bool) -> None:
    fast = Core(_config(dose_start))
    full = Core(_config(dose_start))
    full._quiet_until = lambda: -math.inf  # type: ignore[method-assign]  # never skip
    assert _feed(fast, segs) == _feed(full, segs)


# ---------------------------------------------------------------- signal_lost


class ScanningSignalLost(SignalLost):
    """The reference: ``SignalLost`` as it was, scanning every signal for ``_next``."""

    def good(self, signal: str, t: float) -> Alert | None:
        limit = self.limits_s.get(signal)
        if limit is None:
            return None
        if t > self._last.get(signal, -math.inf):
            self._last[signal] = t
        self._next = min(
            (v + self.limits_s[s] for s, v in self._last.items() if not self._conditions[s].active),
            default=math.inf,
        )
        cond = self._conditions[signal]
        if not cond.active or self._now - t > limit / 10.0:
            return None
        return cond.force(t, None, f"{signal}: valid readings again", {})

    def tick(self, t: float) -> Alert | None:
        self._now = max(self._now, t)
        if t <= self._next:
            return None
        for signal, last in self._last.items():
            cond: Condition = self._conditions[signal]
            limit = self.limits_s[signal]
            if not cond.active and t - last > limit:
                self._next = min(
                    (
                        v + self.limits_s[s]
                        for s, v in self._last.items()
                        if s != signal and not self._conditions[s].active
                    ),
                    default=math.inf,
                )
                minutes = (t - last) / 60.0
                return cond.force(
                    t,
                    Priority.MEDIUM,
                    f"{signal}: no valid reading for {minutes:.0f} min "
                    f"(limit {limit / 60.0:g} min): absent, 0, sensor off or searching",
                    {"minutes_without_valid": r1(minutes)},
                )
        return None


@given(
    st.lists(
        st.tuples(st.sampled_from(["spo2", "pulse", "sbp", "tick"]), st.floats(-100.0, 400.0)),
        max_size=200,
    )
)
def test_signal_lost_keeps_the_next_due_time_of_a_scan(ops: list) -> None:
    limits = {"spo2": 60.0, "pulse": 150.0}
    kept, scan = SignalLost(limits), ScanningSignalLost(limits)
    t = 0.0
    for op, dt in ops:
        t += dt
        if op == "tick":
            a, b = kept.tick(t), scan.tick(t)
        else:
            a, b = kept.good(op, t), scan.good(op, t)
        assert a == b
        assert kept._next == scan._next
        assert kept.active == scan.active
