"""The core's shortcuts change no result (issue 12, "Speed").

Each shortcut is checked against the long way on random streams: the once-a-second
checks skipped until one is due (``Core._timed``), ``SignalLost`` keeping its next due
time, the pre-dose schedule's ``next_check``, and ``Core.sample`` (values, no Reading)
against ``Core.update`` of the same Reading.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config import BedConfig, Config, PatientConfig, Thresholds
from edge.core import Core, output_dict
from edge.core.dose import DoseSchedule
from edge.core.indicators import Condition
from edge.core.rules.base import r1
from edge.core.rules.technical import SignalLost
from edge.vocabulary import FLAGS, SIGNALS, Alert, Priority, Reading

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
        alert = cond.force(t, None, f"{signal}: valid readings again", {})
        # back: watched again at once (without this, one valid reading and silence again
        # never raised it again, a bug found while making the scan incremental)
        self._next = min(
            (v + self.limits_s[s] for s, v in self._last.items() if not self._conditions[s].active),
            default=math.inf,
        )
        return alert

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


@given(
    st.lists(
        st.tuples(st.sampled_from(["spo2", "pulse", "tick"]), st.floats(0.0, 200.0)),
        max_size=120,
    )
)
def test_signal_lost_never_stays_silent_about_a_silent_signal(ops: list) -> None:
    """The invariant the incremental version once broke: whatever came before, a watched
    signal that had a valid reading, has no active alert and then stays silent longer than
    its limit is reported at the next tick after the limit."""
    limits = {"spo2": 60.0, "pulse": 150.0}
    rule = SignalLost(limits)
    t = 0.0
    for op, dt in ops:
        t += dt
        _ = rule.tick(t) if op == "tick" else rule.good(op, t)
    watched = [s for s in limits if s in rule._last and not rule.conditions[s].active]
    started = set()
    for k in range(len(limits) + 1):  # one start per tick: every silent one within a few
        a = rule.tick(t + 1000.0 + k)
        if a is not None:
            started.add(a.source)
    assert set(watched) <= started


# ---------------------------------------------------------------- Core.sample

# (signal, value, seconds since the previous reading, flags, source): any signal (SpO2
# and pulse most), values in and out of range, every flag, late and duplicate readings
readings = st.lists(
    st.tuples(
        st.sampled_from(["spo2", "pulse"] * 4 + sorted(SIGNALS)),
        st.one_of(st.floats(-5.0, 400.0), st.integers(0, 120)),
        st.one_of(st.just(1.0), st.floats(-5.0, 5.0), st.floats(0.0, 900.0)),
        st.frozensets(st.sampled_from(sorted(FLAGS)), max_size=2),
        st.sampled_from(["ox", "nibp", ""]),
    ),
    max_size=300,
)


@given(readings, st.booleans())
def test_sample_gives_what_update_of_a_reading_gives(rs: list, dose_start: bool) -> None:
    by_value, by_reading = Core(_config(dose_start)), Core(_config(dose_start))
    t = T0
    for signal, value, dt, flags, source in rs:
        t += dt
        a = by_value.sample(signal, t, value, flags, source)
        b = by_reading.update(Reading.of(signal, value, time=t, source=source, flags=flags))
        assert [output_dict(o) for o in a] == [output_dict(o) for o in b]
    a, b = by_value.tick(t + 3600.0), by_reading.tick(t + 3600.0)
    assert [output_dict(o) for o in a] == [output_dict(o) for o in b]
    assert json.dumps(by_value.snapshot(), default=repr) == json.dumps(
        by_reading.snapshot(), default=repr
    )
    assert by_value.rejected.as_dict() == by_reading.rejected.as_dict()
    assert by_value.trends(t).to_dict() == by_reading.trends(t).to_dict()


def test_sample_checks_values_as_a_reading_does() -> None:
    core = Core(_config(False))
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            core.sample("spo2", T0, bad)
        with pytest.raises(ValueError, match="finite"):
            Reading.of("spo2", bad, time=T0)
    with pytest.raises(ValueError, match="unknown flag"):
        core.sample("pulse", T0, 80.0, frozenset({"wobbly"}))
    with pytest.raises(ValueError, match="unknown signal"):
        core.sample("temperature", T0, 37.0)
    assert core.rejected.as_dict() == {}
    assert core.sample("spo2", None, 97.0) == core.sample("pulse", -1.0, 80.0) == []
    assert core.rejected.as_dict() == {"pulse:bad_time": 1, "spo2:bad_time": 1}
    # an int is taken as the float a Reading.of would hold
    core.sample("spo2", T0, 97)
    assert core._desaturation.window[-1] == (T0, 97.0)
    assert type(core._desaturation.window[-1][1]) is float
