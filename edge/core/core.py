"""The core facade: readings in, alert events, dose checks and trend summaries out.

``Core(config)`` runs the pipeline of issue #4 on each reading: validation
(:mod:`edge.core.validation`) -> artifact rejection (:mod:`edge.core.artifacts`)
-> trends (:mod:`edge.core.trend`) and baselines (:mod:`edge.core.baselines`)
-> the alert rules (:mod:`edge.core.rules`, on :mod:`edge.core.indicators`) and
the pre-dose check (:mod:`edge.core.dose`). The facade only routes: each rule
owns its condition and its numbers. It never reads a clock: time comes from
the readings and from :meth:`Core.tick`. Work per reading is O(1) and memory
is bounded. ``docs/core.md`` explains methods, defaults and sources.

>>> from edge.config import BedConfig, Config
>>> core = Core(Config(bed=BedConfig("s", "u", "b")))
>>> out = []
>>> for i, sbp in enumerate(range(120, 80, -3)):
...     t = 1_780_000_000.0 + i * 3600.0
...     out += core.update(Reading.of("sbp", sbp, time=t, source="nibp"))
...     out += core.update(Reading.of("dbp", sbp - 45, time=t, source="nibp"))
...     out += core.update(Reading.of("map", sbp - 30, time=t, source="nibp"))
>>> [(a.code, a.phase.value, a.priority.value) for a in out]  # doctest: +NORMALIZE_WHITESPACE
[('bp_falling', 'start', 'medium'), ('hypotension', 'start', 'medium'),
 ('hypotension', 'escalate', 'high')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edge.config import Config, Thresholds
from edge.core.artifacts import (
    FastFall,
    MotionDetector,
    NibpOutlierGate,
    Rejections,
    SpO2ArtifactFilter,
    SpO2Cleaner,
    WeightJumpGate,
    WeightStepFilter,
)
from edge.core.baselines import Baseline, Baselines
from edge.core.dose import DoseCheck, DoseSchedule, HoldCriterion
from edge.core.indicators import Condition
from edge.core.outputs import Output, TrendSummary, summarise
from edge.core.rules import RuleSet
from edge.core.trend import TREND_MODELS, ExpAverage, LocalLinearTrend, MinuteMean
from edge.core.validation import (
    FAULT_FLAGS,
    NIBP_SIGNALS,
    PLAUSIBLE,
    SENSOR_OFF_FLAGS,
    NibpAssembler,
    NibpCycle,
    Timeline,
    fault_reason,
    flag_reason,
)
from edge.vocabulary import FLAGS, Alert, Reading, parse_time

#: Readings with times outside this range (epoch s) cannot be real.
_MIN_TIME, _MAX_TIME = 0.0, 1.0e10
#: At most this many devices are tracked for sensor_off.
_MAX_SOURCES = 16
#: The once-a-second checks are skipped until this long before the earliest time one of
#: them can act: far more than the rounding of a sum of epoch seconds (< 1e-5 s), so a
#: comparison a rule makes its own way never acts inside the margin (see ``Core._timed``).
_DUE_MARGIN_S = 1.0
_NO_FLAGS: frozenset[str] = frozenset()


class Core:
    """The signal-processing core for one bed.

    Inspect :attr:`rejected` (counts by ``signal:reason``), :meth:`baselines`,
    :attr:`active` (conditions on now), :attr:`last_nibp` (the last accepted
    NIBP cycle, MAP flagged ``derived`` when computed) and :attr:`conditions`
    (each bed-level rule's condition by code).
    """

    def __init__(self, config: Config) -> None:
        th: Thresholds = config.thresholds
        pt = config.patient
        self.config = config
        self.th = th
        self.rejected = Rejections()
        self._baselines = Baselines(
            th.baseline_learn_h,
            {
                "weight": pt.baseline_weight_kg,
                "sbp": pt.baseline_sbp_mmhg,
                "map": pt.baseline_map_mmhg,
                "spo2": pt.baseline_spo2_pct,
            },
            th.baseline_min_cycles,
            th.baseline_min_span_h,
        )
        cusum = th.nibp_cusum_h
        self.trend = {
            s: LocalLinearTrend(q, r, prior, gap, cusum_h=cusum if s in NIBP_SIGNALS else None)
            for s, (q, r, prior, gap) in TREND_MODELS.items()
        }
        self._timeline = Timeline()
        self.now = -math.inf
        self._next_timed = -math.inf
        self._timed_due = -math.inf  # before this, _timed has only signal_lost to tick
        self._baseline_close = -math.inf
        # SpO2 / pulse
        self._motion = MotionDetector()
        self._spo2_clean = SpO2Cleaner(
            self._motion,
            self.trend["spo2"],
            SpO2ArtifactFilter(th.spo2_fast_drop_pct, th.spo2_confirm_s),
            th.spo2_plausible_min_pct,
            th.spo2_blanking_s,
            PLAUSIBLE["spo2"][1],
        )
        self._pulse_range = PLAUSIBLE["pulse"]
        self._spo2_minutes = MinuteMean(60.0)
        self._pulse_minutes = MinuteMean(60.0)
        self._spo2_minute: tuple[float, float] | None = None
        self._pulse_avg = ExpAverage(th.pulse_average_half_life_s)  # the 'persisting' HR
        # motion evidence for desaturation: raw SpO2 falls, perfusion index
        self._fast_fall = FastFall(th.spo2_implausible_fall_points, th.spo2_implausible_fall_s)
        self._spo2_fall_points = th.spo2_implausible_fall_points
        self._spo2_fall_impossible = max(
            th.spo2_impossible_fall_points, th.spo2_implausible_fall_points
        )
        self._pi_avg = ExpAverage(300.0)
        self._pi_ratio = th.pi_collapse_ratio
        self._spo2_valid_min = th.spo2_plausible_min_pct
        # NIBP
        self._nibp = NibpAssembler(th.nibp_cycle_window_s)
        self._nibp_gate = NibpOutlierGate(th.nibp_outlier_sigma, th.nibp_outlier_min_mmhg)
        self._held: NibpCycle | None = None
        self._held_until = math.inf  # a held cycle is released (used) at this time
        self._remeasure_s = th.hypotension_remeasure_min * 60.0
        self.last_nibp: NibpCycle | None = None
        # weight
        self._weight_range = PLAUSIBLE["weight"]
        self._weight_jumps = WeightJumpGate(
            th.weight_jump_kg, th.weight_jump_kg_per_h, th.weight_step_kg
        )
        self._weight_steps = WeightStepFilter(th.weight_step_kg, th.weight_step_window_min * 60)
        # the rules (edge.core.rules), each with its condition
        self.rules = RuleSet(th, _MAX_SOURCES)
        self.conditions: dict[str, Condition] = self.rules.conditions
        # the rules the per-reading and per-second paths call, looked up once
        self._desaturation = self.rules.desaturation
        self._signal_lost = self.rules.signal_lost
        self._sensor_off = self.rules.sensor_off
        self._nibp_overdue = self.rules.nibp_overdue
        self._dose_hold = self.rules.dose_hold
        self._evidence = self.rules.evidence
        # dose schedule
        start = parse_time(pt.dose_start) if pt.dose_start else None
        self.schedule = DoseSchedule(
            start, pt.dose_interval_h * 3600.0, pt.max_doses, th.dose_check_lead_min * 60.0
        )
        self.last_dose_check: DoseCheck | None = None
        # the Reading handlers of the signals other than SpO2 and pulse (which take values)
        self._handlers = {
            "sbp": self._nibp_reading,
            "dbp": self._nibp_reading,
            "map": self._nibp_reading,
            "weight": self._on_weight,
            "pi": self._on_pi,
        }

    # ------------------------------------------------------------------ public API

    def update(self, reading: Reading) -> list[Output]:
        """Process one reading; return the outputs it causes (mostly none)."""
        out: list[Output] = []
        t = reading.time
        if t is None or not _MIN_TIME < t < _MAX_TIME:
            self.rejected.count(reading.signal, "bad_time")
            return out
        if t > self.now:
            self.now = t
            if t >= self._next_timed:
                self._timed(t, out)
        signal = reading.signal
        if signal == "spo2":
            self._on_spo2(t, reading.value, reading.flags, reading.source, out)
        elif signal == "pulse":
            self._on_pulse(t, reading.value, reading.flags, reading.source, out)
        else:
            self._handlers[signal](reading, t, out)
        return out

    def sample(
        self,
        signal: str,
        time: float | None,
        value: float,
        flags: frozenset[str] = _NO_FLAGS,
        source: str = "",
    ) -> list[Output]:
        """One reading given as plain values; the same as :meth:`update` of
        ``Reading.of(signal, value, time=time, source=source, flags=flags)``.

        For the 1 Hz SpO2 and pulse samples no :class:`Reading` is built (a replay of a
        day at 1 Hz feeds 170,000 of them): the values are checked as a Reading checks
        them (a finite number, known flags; ValueError otherwise) and take the same path
        through the core. Any other signal is built into a Reading and given to
        :meth:`update`.

        >>> from edge.config import BedConfig, Config
        >>> core = Core(Config(bed=BedConfig("s", "u", "b")))
        >>> t = 1_780_000_000.0
        >>> core.sample("spo2", t, 97.0), core.sample("pulse", t, 82.0, source="ox")
        ([], [])
        >>> core.sample("spo2", t + 1, 0.0, frozenset({"sensor_off"}))
        []
        >>> core.rejected.as_dict()
        {'spo2:flagged': 1}
        """
        if signal == "spo2":
            on = self._on_spo2
        elif signal == "pulse":
            on = self._on_pulse
        else:
            return self.update(Reading.of(signal, value, time=time, source=source, flags=flags))
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"value must be a finite number, got {value!r}")
        if flags and not flags <= FLAGS:
            raise ValueError(f"unknown flag(s) {sorted(flags - FLAGS)}; known: {sorted(FLAGS)}")
        out: list[Output] = []
        # from here on as update() (time checks and the once-a-second checks) ...
        if time is None or not _MIN_TIME < time < _MAX_TIME:
            self.rejected.count(signal, "bad_time")
            return out
        if time > self.now:
            self.now = time
            if time >= self._next_timed:
                self._timed(time, out)
        on(time, value, flags, source, out)  # ... and the same handler
        return out

    def screen(self, reading: Reading) -> str | None:
        """The core's verdict on ``reading`` by itself: None, or why it will be rejected.

        The checks that need nothing but the reading (validation, ``docs/core.md``
        stage 1): its time (``bad_time``), the device's fault flags (``flagged``,
        weight ``unstable``) and the plausibility range (``implausible``). The
        runtime publishes each reading with this verdict (``valid``, ``rejected``
        on ``vitals``), so a station never shows a value the core threw away as
        if it were good. Stateful rejections (late, duplicate, artifacts, NIBP
        order and outliers) come later and are counted in ``rejected``.

        >>> from edge.config import BedConfig, Config
        >>> core = Core(Config(bed=BedConfig("s", "u", "b")))
        >>> t = 1_780_000_000.0
        >>> [core.screen(Reading.of(s, v, time=t)) for s, v in (("weight", 99_999.99),
        ...     ("sbp", 5), ("sbp", 120), ("spo2", 97))]
        ['implausible', 'implausible', None, None]
        """
        t = reading.time
        if t is None or not _MIN_TIME < t < _MAX_TIME:
            return "bad_time"
        flags = reading.flags
        if flags and not flags.isdisjoint(FAULT_FLAGS):
            return fault_reason(reading)
        lo, hi = PLAUSIBLE[reading.signal]
        if reading.signal == "spo2":
            lo = self.th.spo2_plausible_min_pct
        if not lo <= reading.value <= hi:
            return "implausible"
        return None

    def tick(self, now: float) -> list[Output]:
        """Time-driven conditions without a reading: NIBP overdue, dose checks, open cycles."""
        out: list[Output] = []
        if _MIN_TIME < now < _MAX_TIME:
            self.now = max(self.now, now)
            self._timed(now, out)
        return out

    def flush(self) -> list[Output]:
        """Close an open NIBP cycle now (end of a stream): its alerts carry its own time."""
        out: list[Output] = []
        self._close_nibp(out)
        self._timed_due = -math.inf
        return out

    def dose(self, time: float) -> list[Output]:
        """An IL-2 dose was given at ``time``: it drives the schedule and ends learning."""
        out: list[Output] = []
        if not _MIN_TIME < time < _MAX_TIME:
            return out
        self.schedule.dose(time)
        self._baselines.dose_given(time)
        self._baseline_close = -math.inf
        self._timed_due = -math.inf
        self._emit(out, self.rules.dose_hold.dose_given(time))
        return out

    def set_baseline(self, signal: str, value: float, time: float | None = None) -> Baseline:
        """Set a baseline by command (weight kg, sbp/map mmHg, spo2 %); returns it."""
        return self._baselines.set(signal, value, time)

    def snapshot(self) -> dict[str, Any]:
        """The state a restart must keep, JSON-able (:mod:`edge.core.state`)."""
        from edge.core.state import snapshot

        return snapshot(self)

    @classmethod
    def from_snapshot(cls, config: Config, data: Mapping[str, Any]) -> Core:
        """A core for ``config`` with the :meth:`snapshot` ``data`` put back.

        Raises ValueError (and nothing is kept) when ``data`` does not fit.
        """
        from edge.core.state import restore

        core = cls(config)
        restore(core, data)
        core._timed_due = -math.inf  # (it is still: the restored core has run nothing)
        return core

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The baselines in use, each with its value, source and sample count."""
        return self._baselines.as_dict()

    @property
    def active(self) -> dict[str, str]:
        """Active conditions: code (with ``/source`` for per-device ones) -> priority."""
        return self.rules.active

    def trends(self, now: float | None = None) -> TrendSummary:
        """Every trend projected to ``now`` (default: the latest reading time)."""
        if now is None:
            now = self.now if math.isfinite(self.now) else 0.0
        return summarise(
            now, self.trend, self._baselines, self.th, self.active, self.rejected.as_dict()
        )

    def hold_criteria(self, now: float) -> tuple[HoldCriterion, ...]:
        """Every hold criterion with its current value (``clinical.md``, hold criteria).

        The SBP is the last cycle's, a held (unconfirmed) low one included: the
        conservative side.
        """
        gain = None
        base = self._baselines.value("weight")
        w = self.trend["weight"]
        if base and w.n:
            gain = (w.level - base) / base * 100.0
        cycle = self._held if self._held is not None else self.last_nibp
        return self.rules.dose_hold.criteria(now, cycle, self._spo2_minute, gain, self._pulse_avg)

    # ------------------------------------------------------------------ routing helpers

    def _emit(self, out: list[Output], alert: Alert | None) -> None:
        if alert is None:
            return
        out.append(alert)
        if alert.code in self._evidence:
            cls_alert = self.rules.cls_suspected.update(alert.time)
            if cls_alert is not None:
                out.append(cls_alert)

    def _late(self, signal: str, key: str, t: float) -> bool:
        """Count a reading not newer than the last one of ``key``; True to use it anyway."""
        reason = self._timeline.late(key, t)
        self.rejected.count(signal, reason)
        if reason != "timeline_reset":
            return False
        if t < self.now:
            self.now = t
            self._next_timed = t
        return True

    def _timed(self, t: float, out: list[Output]) -> None:
        """The time-driven checks, once a second of data time (and at each ``tick``).

        Until ``_timed_due`` (:meth:`_quiet_until`) every check but ``signal_lost`` is
        known to do nothing, so only that one runs (its due time moves with each valid
        SpO2, so it is asked every time). What can bring a check forward outside this
        method (a dose, an NIBP reading, ``flush``) resets ``_timed_due``.
        """
        self._next_timed = t + 1.0
        if t < self._timed_due:
            alert = self._signal_lost.tick(t)
            if alert is not None:
                self._emit(out, alert)
            return
        if t >= self._baseline_close:
            self._baselines.close_due(t)
            self._baseline_close = self._baselines.next_close
        if t > self._nibp.deadline:  # the open cycle's window has passed
            self._close_nibp(out)
        if t > self._held_until:  # no cycle came to refute a held low one: it stands
            self._release_held(out)
        # once a second of data time, so the common "nothing due" path calls only these
        alert = self._nibp_overdue.tick(t)
        if alert is not None:
            self._emit(out, alert)
        alert = self._signal_lost.tick(t)
        if alert is not None:
            self._emit(out, alert)
        alert = self._dose_hold.tick(t)
        if alert is not None:
            self._emit(out, alert)
        due = self.schedule.check_due(t)
        if due is not None:
            check, alert = self._dose_hold.check(
                t, due, self.schedule.dose_number(due), self.hold_criteria(t)
            )
            self.last_dose_check = check
            out.append(check)
            self._emit(out, alert)
        self._timed_due = self._quiet_until()

    def _quiet_until(self) -> float:
        """A time before which the checks of :meth:`_timed` but ``signal_lost`` do nothing.

        Each one's own earliest time to act: a learning window closing, the open NIBP
        cycle's window, a held cycle's release, ``nibp_overdue``, the end of the pre-dose
        advice, the next pre-dose check; less :data:`_DUE_MARGIN_S`. Only ``_timed``
        itself, a dose, an NIBP reading and ``flush`` change any of them.
        """
        return (
            min(
                self._baseline_close,
                self._nibp.deadline,
                self._held_until,
                self._nibp_overdue.due,
                self._dose_hold.due,
                self.schedule.next_check(),
            )
            - _DUE_MARGIN_S
        )

    def _flagged(
        self, signal: str, flags: frozenset[str], source: str, t: float, out: list[Output]
    ) -> bool:
        """Handle a reading with flags; True when it was rejected."""
        if flags.isdisjoint(FAULT_FLAGS):
            return False
        if signal != "pi":
            self.rejected.count(signal, flag_reason(signal, flags) or "flagged")
        if signal in ("spo2", "pulse", "pi"):
            self.rules.desaturation.evidence(t)
        if not flags.isdisjoint(SENSOR_OFF_FLAGS):
            self._emit(out, self.rules.sensor_off.off(source, t))
        return True

    # ------------------------------------------------------------------ SpO2 / pulse

    def _on_spo2(
        self, t: float, v: float, flags: frozenset[str], source: str, out: list[Output]
    ) -> None:
        timeline = self._timeline
        last = timeline.last
        if t <= last["spo2"]:
            if not self._late("spo2", "spo2", t):
                return
        elif timeline.runs:
            timeline.runs.pop("spo2", None)
        if flags and self._flagged("spo2", flags, source, t, out):
            return
        last["spo2"] = t
        if self._sensor_off.pending:
            self._emit(out, self._sensor_off.on(source, t))
        if self._spo2_valid_min <= v <= 100.0:  # a valid reading: the signal is there
            alert = self._signal_lost.good("spo2", t)
            if alert is not None:
                self._emit(out, alert)
        desaturation = self._desaturation
        motion = self._motion
        drop = self._fast_fall.drop(t, v)
        if drop >= self._spo2_fall_points:
            if drop >= self._spo2_fall_impossible:
                desaturation.evidence(t)  # a fall physiology cannot make (issue 12)
            else:
                desaturation.fast_fall(t)  # faster than physiology: a level must hold
        if t < motion.until and motion.active(t):
            desaturation.evidence(t)  # an erratic pulse
        reason = self._spo2_clean.reject(t, v)
        if reason is not None:
            self.rejected.count("spo2", reason)
            return
        alert = desaturation.update(t, v)
        if alert is not None:
            self._emit(out, alert)
        done = self._spo2_minutes.add(t, v)
        if done is not None:
            # a finished minute of SpO2; t (the reading that closed it) is the alert time
            tm, mean, _n = done
            self._spo2_minute = (tm, mean)
            self._learn("spo2", tm, mean)
            trend = self.trend["spo2"].update(tm, mean)
            base = self._baselines.value("spo2")
            self._emit(out, self.rules.spo2_falling.update(t, trend, base))

    def _on_pulse(
        self, t: float, v: float, flags: frozenset[str], source: str, out: list[Output]
    ) -> None:
        timeline = self._timeline
        last = timeline.last
        if t <= last["pulse"]:
            if not self._late("pulse", "pulse", t):
                return
        elif timeline.runs:
            timeline.runs.pop("pulse", None)
        if flags and self._flagged("pulse", flags, source, t, out):
            return
        last["pulse"] = t
        lo, hi = self._pulse_range
        if not lo <= v <= hi:
            self.rejected.count("pulse", "implausible")
            return
        if self._motion.pulse(t, v):
            self.rejected.count("pulse", "motion")
            return
        done = self._pulse_minutes.add(t, v)
        if done is not None:
            tm, mean, _n = done
            hr = self._pulse_avg.update(tm, mean).value
            assert hr is not None
            self._learn("pulse", tm, mean)
            self.trend["pulse"].update(tm, mean)
            self._emit(out, self.rules.tachycardia.update(t, hr, mean))

    def _on_pi(self, r: Reading, t: float, out: list[Output]) -> None:
        if r.flags and self._flagged("pi", r.flags, r.source, t, out):
            return
        avg = self._pi_avg
        v = r.value
        if avg.value is not None and v < self._pi_ratio * avg.value:
            self.rules.desaturation.evidence(t)  # perfusion collapsing: motion or probe
        if 0.0 < v <= PLAUSIBLE["pi"][1] and t > avg.last_time:
            avg.update(t, v)

    # ------------------------------------------------------------------ NIBP

    def _nibp_reading(self, r: Reading, t: float, out: list[Output]) -> None:
        self._timed_due = -math.inf  # a cycle opens, closes or is held: the timed checks run
        self._on_nibp(r, t, out)

    def _on_nibp(self, r: Reading, t: float, out: list[Output]) -> None:
        asm = self._nibp
        if asm.open and not asm.belongs(r):
            if asm.repeated(r):  # a duplicated row of a part already in: keep the cycle open
                self.rejected.count(r.signal, "duplicate")
                return
            self._close_nibp(out)
        if not asm.open:
            why = asm.late(r)
            if why is not None:  # a part of the cycle closed last: it never starts a cycle
                self.rejected.count(r.signal, why)
                return
            timeline = self._timeline
            if t <= timeline.last["nibp"]:
                if not self._late(r.signal, "nibp", t):
                    return
            elif timeline.runs:
                timeline.runs.pop("nibp", None)
        sensor_off = self.rules.sensor_off
        if sensor_off.pending and not (r.flags and not r.flags.isdisjoint(SENSOR_OFF_FLAGS)):
            self._emit(out, sensor_off.on(r.source, t))
        asm.add(r, self.now)
        if asm.complete:
            self._close_nibp(out)

    def _close_nibp(self, out: list[Output]) -> None:
        asm = self._nibp
        cycle = asm.flush()
        if cycle is None:
            return
        self._timeline.last["nibp"] = asm.last
        reason = asm.take_spoiled() or cycle.problem()
        parts = (cycle.sbp is not None) + (cycle.dbp is not None)
        parts += cycle.map is not None and not cycle.map_derived
        if reason is not None:
            self.rejected.count("nibp", reason, parts)
            return
        key = "sbp" if cycle.sbp is not None else "map"
        value = cycle.sbp if cycle.sbp is not None else cycle.map
        assert value is not None
        innovation, variance = self.trend[key].innovation(cycle.time, value)
        gate = self._nibp_gate
        if not math.isfinite(variance):
            verdict = "confirm" if gate.held is not None else "ok"
            gate.held = None
        else:
            strict = self.rules.hypotension.sbp_below(cycle)
            verdict = gate.check(value, innovation, variance, strict=strict)
        if verdict == "hold":
            self._held = cycle
            # measured all the same: nibp_overdue is about the cuff, not the gate's verdict
            self._emit(out, self.rules.nibp_overdue.measured(cycle.time))
            if self.rules.hypotension.below(cycle):  # waits one re-measure interval at most
                self._held_until = cycle.time + self._remeasure_s
            return
        held, self._held = self._held, None
        self._held_until = math.inf
        if verdict == "confirm" and held is not None:
            self._accept_cycle(held, out)
        elif verdict == "refute" and held is not None:
            n = (held.sbp is not None) + (held.dbp is not None)
            n += held.map is not None and not held.map_derived
            self.rejected.count("nibp", "outlier", n)
        self._accept_cycle(cycle, out)

    def _learn(self, signal: str, t: float, value: float) -> None:
        """Feed a baseline's learning window. A window that now has an end (its first value,
        or BP reaching its quality) brings :meth:`_timed` forward, so it closes on time
        even when no further value comes (a baseline used to wait for the next one)."""
        baselines = self._baselines
        baselines.observe(signal, t, value)
        close = baselines.next_close
        if close < self._baseline_close:
            self._baseline_close = close
            self._timed_due = -math.inf

    def _release_held(self, out: list[Output]) -> None:
        """The outlier gate holds a cycle at most one re-measure interval, then uses it."""
        held, self._held = self._held, None
        self._held_until = math.inf
        self._nibp_gate.held = None
        if held is not None:
            self._accept_cycle(held, out)

    def _accept_cycle(self, c: NibpCycle, out: list[Output]) -> None:
        t = c.time
        self.last_nibp = c
        for signal, value in (("sbp", c.sbp), ("map", c.map), ("dbp", c.dbp)):
            if value is not None:
                self.trend[signal].update(t, value)
                if signal != "dbp":
                    self._learn(signal, t, value)
        self._emit(out, self.rules.nibp_overdue.measured(t))
        self._emit(out, self.rules.bp_falling.update(c, self.trend, self._baselines))
        self._emit(out, self.rules.hypotension.update(c))

    # ------------------------------------------------------------------ weight

    def _on_weight(self, r: Reading, t: float, out: list[Output]) -> None:
        timeline = self._timeline
        if t <= timeline.last["weight"]:
            if not self._late("weight", "weight", t):
                return
        elif timeline.runs:
            timeline.runs.pop("weight", None)
        if r.flags and self._flagged("weight", r.flags, r.source, t, out):
            return
        timeline.last["weight"] = t
        v = r.value
        lo, hi = self._weight_range
        if not lo <= v <= hi:
            self.rejected.count("weight", "implausible")
            return
        plausible, jumped = self._weight_jumps.add(t, v)
        if jumped:
            self.rejected.count("weight", "implausible_jump", jumped)
        accepted: list[tuple[float, float]] = []
        for tj, vj in plausible:
            steps, rejected, reason = self._weight_steps.add(tj, vj)
            accepted += steps
            if rejected:
                self.rejected.count("weight", reason, rejected)
        trend = self.trend["weight"]
        baselines = self._baselines
        for tw, w in accepted:
            self._learn("weight", tw, w)
            trend.update(tw, w)
            self._emit(out, self.rules.weight_gain.update(tw, trend, baselines.value("weight")))
