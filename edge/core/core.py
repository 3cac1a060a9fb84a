"""The core facade: readings in, alert events, dose checks and trend summaries out.

``Core(config)`` runs the pipeline of issue #4 on each reading: validation
(:mod:`edge.core.validation`) -> artifact rejection (:mod:`edge.core.artifacts`)
-> trends (:mod:`edge.core.trend`) and baselines (:mod:`edge.core.baselines`)
-> indicators (:mod:`edge.core.indicators`) and the pre-dose check
(:mod:`edge.core.dose`). It never reads a clock: time comes from the readings
and from :meth:`Core.tick`. Work per reading is O(1) and memory is bounded.
``docs/core.md`` explains methods, defaults and sources.

>>> from edge.config import BedConfig, Config
>>> core = Core(Config(bed=BedConfig("s", "u", "b")))
>>> out = []
>>> for i, sbp in enumerate(range(120, 80, -3)):
...     t = 1_780_000_000.0 + i * 3600.0
...     out += core.update(Reading.of("sbp", sbp, time=t, source="nibp"))
...     out += core.update(Reading.of("dbp", sbp - 45, time=t, source="nibp"))
...     out += core.update(Reading.of("map", sbp - 30, time=t, source="nibp"))
>>> [(a.code, a.phase.value, a.priority.value) for a in out]
[('bp_falling', 'start', 'medium'), ('hypotension', 'start', 'high')]
"""

from __future__ import annotations

import math
from typing import Any

from edge.config import Config, Thresholds
from edge.core.artifacts import (
    MotionDetector,
    NibpOutlierGate,
    Rejections,
    SpO2ArtifactFilter,
    WeightStepFilter,
)
from edge.core.baselines import Baseline, Baselines
from edge.core.dose import DoseCheck, DoseSchedule, HoldCriterion
from edge.core.indicators import Condition, SatSeconds, graded
from edge.core.outputs import Output, SignalTrend, TrendSummary
from edge.core.trend import ExpAverage, LocalLinearTrend, MinuteMean
from edge.core.validation import (
    FAULT_FLAGS,
    NIBP_SIGNALS,
    PLAUSIBLE,
    SENSOR_OFF_FLAGS,
    NibpAssembler,
    NibpCycle,
    fault_reason,
)
from edge.vocabulary import Alert, AlertCode, Reading, parse_time

#: Trend model parameters per signal: q (units^2/h^3), r (units^2), slope prior
#: variance ((units/h)^2), restart after a gap (h). See docs/core.md, "Trends".
TREND_MODELS: dict[str, tuple[float, float, float, float]] = {
    "sbp": (2.0, 49.0, 4.0, 12.0),
    "map": (1.2, 27.0, 2.0, 12.0),
    "dbp": (1.2, 27.0, 2.0, 12.0),
    "spo2": (0.5, 1.0, 4.0, 2.0),
    "pulse": (20.0, 16.0, 100.0, 2.0),
    "weight": (0.002, 0.09, 0.01, 96.0),
}

#: Readings with times outside this range (epoch s) cannot be real.
_MIN_TIME, _MAX_TIME = 0.0, 1.0e10
#: Consecutive late readings after which a signal follows a timeline that moved back.
_STALE_RESET = {"spo2": 60, "pulse": 60, "pi": 60, "nibp": 9, "weight": 3}
#: At most this many devices are tracked for sensor_off.
_MAX_SOURCES = 16
_CLS_DOMAINS = {
    "bp": (AlertCode.HYPOTENSION, AlertCode.BP_FALLING),
    "weight": (AlertCode.WEIGHT_GAIN,),
    "spo2": (AlertCode.DESATURATION, AlertCode.SPO2_FALLING),
}


def _r1(x: float) -> float:
    return round(x, 1)


class Core:
    """The signal-processing core for one bed.

    Inspect :attr:`rejected` (counts by ``signal:reason``), :meth:`baselines`,
    :attr:`active` (conditions on now) and :attr:`last_nibp` (the last accepted
    NIBP cycle, MAP flagged ``derived`` when computed).
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
        )
        self.trend = {
            s: LocalLinearTrend(q, r, prior, gap, cusum_h=4.0 if s in NIBP_SIGNALS else None)
            for s, (q, r, prior, gap) in TREND_MODELS.items()
        }
        self._last: dict[str, float] = dict.fromkeys(PLAUSIBLE, -math.inf)
        self._stale_run: dict[str, int] = {}
        self.now = -math.inf
        self._next_timed = -math.inf
        self._baseline_close = -math.inf
        # SpO2 / pulse
        self._spo2_filter = SpO2ArtifactFilter(th.spo2_fast_drop_pct, th.spo2_confirm_s)
        self._sat = SatSeconds(th.hold_spo2_pct, th.satseconds_limit)
        self._rapid_level = th.hold_spo2_pct - th.rapid_desat_points
        self._blank_until = -math.inf
        self._motion = MotionDetector()
        self._motion_episode = -math.inf
        self._motion_ref = 0.0
        self._spo2_minutes = MinuteMean(60.0)
        self._pulse_minutes = MinuteMean(60.0)
        self._spo2_minute: tuple[float, float] | None = None
        self._pulse_avg = ExpAverage(300.0)  # 5-min half-life: the 'persisting' HR
        # NIBP
        self._nibp = NibpAssembler()
        self._nibp_gate = NibpOutlierGate(th.nibp_outlier_sigma, 15.0)
        self._held: NibpCycle | None = None
        self._last_cycle_time = -math.inf
        self.last_nibp: NibpCycle | None = None
        self._last_nibp_ok: float | None = None
        # weight
        self._weight_steps = WeightStepFilter(th.weight_step_kg, th.weight_step_window_min * 60)
        self._last_weight: float | None = None
        # sensor off: source -> first time the device said no/off sensor
        self._off_since: dict[str, float] = {}
        self._off_conditions: dict[str, Condition] = {}
        # conditions
        delay = th.alarm_delay_s
        self.conditions: dict[str, Condition] = {
            AlertCode.HYPOTENSION: Condition(AlertCode.HYPOTENSION, on_count=2, off_count=2),
            AlertCode.BP_FALLING: Condition(AlertCode.BP_FALLING, on_count=2, off_count=2),
            AlertCode.DESATURATION: Condition(AlertCode.DESATURATION, off_s=max(delay, 60.0)),
            AlertCode.SPO2_FALLING: Condition(
                AlertCode.SPO2_FALLING, on_s=th.spo2_falling_min_s, off_s=600.0
            ),
            AlertCode.WEIGHT_GAIN: Condition(AlertCode.WEIGHT_GAIN),
            AlertCode.TACHYCARDIA: Condition(
                AlertCode.TACHYCARDIA,
                on_s=(0.0, math.inf, th.tachycardia_min_s, th.tachycardia_high_min_s),
                off_s=600.0,
            ),
            AlertCode.CLS_SUSPECTED: Condition(AlertCode.CLS_SUSPECTED),
            AlertCode.NIBP_OVERDUE: Condition(AlertCode.NIBP_OVERDUE),
            AlertCode.DOSE_HOLD_ADVISED: Condition(AlertCode.DOSE_HOLD_ADVISED),
        }
        self._desat = self.conditions[AlertCode.DESATURATION]
        # dose schedule
        start = parse_time(pt.dose_start) if pt.dose_start else None
        self.schedule = DoseSchedule(
            start, pt.dose_interval_h * 3600.0, pt.max_doses, th.dose_check_lead_min * 60.0
        )
        self._hold_until = math.inf
        self.last_dose_check: DoseCheck | None = None
        self._handlers = {
            "spo2": self._on_spo2,
            "pulse": self._on_pulse,
            "sbp": self._on_nibp,
            "dbp": self._on_nibp,
            "map": self._on_nibp,
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
        self._handlers[reading.signal](reading, t, out)
        return out

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
        return out

    def dose(self, time: float) -> list[Output]:
        """An IL-2 dose was given at ``time``: it drives the schedule and ends learning."""
        out: list[Output] = []
        if not _MIN_TIME < time < _MAX_TIME:
            return out
        self.schedule.dose(time)
        self._baselines.dose_given(time)
        self._baseline_close = -math.inf
        hold = self.conditions[AlertCode.DOSE_HOLD_ADVISED]
        if hold.active:
            self._hold_until = math.inf
            self._emit(out, hold.force(time, 0, "dose given: pre-dose hold advice closed", {}))
        return out

    def set_baseline(self, signal: str, value: float, time: float | None = None) -> Baseline:
        """Set a baseline by command (weight kg, sbp/map mmHg, spo2 %); returns it."""
        return self._baselines.set(signal, value, time)

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The baselines in use, each with its value, source and sample count."""
        return self._baselines.as_dict()

    @property
    def active(self) -> dict[str, str]:
        """Active conditions: code (with ``/source`` for per-device ones) -> priority."""
        act = {c.code: c.priority.value for c in self.conditions.values() if c.priority}
        for src, c in self._off_conditions.items():
            if c.priority:
                act[f"{c.code}/{src}"] = c.priority.value
        return act

    def trends(self, now: float | None = None) -> TrendSummary:
        """Every trend projected to ``now`` (default: the latest reading time)."""
        if now is None:
            now = self.now if math.isfinite(self.now) else 0.0
        th = self.th
        horizon = th.bp_projection_h
        base_w = self._baselines.value("weight")
        limits: dict[str, tuple[float | None, bool]] = {
            "sbp": (th.hold_sbp_mmhg, True),
            "map": (th.hold_map_mmhg, True),
            "dbp": (None, True),
            "spo2": (th.hold_spo2_pct, True),
            "pulse": (th.hold_hr_absolute_bpm, False),
            "weight": (
                None if base_w is None else base_w * (1 + th.hold_weight_gain_pct / 100),
                False,
            ),
        }
        signals = {}
        for signal, trend in self.trend.items():
            est = trend.estimate(now)
            if est is None:
                continue
            limit, falling = limits[signal]
            hours = prob = None
            if limit is not None:
                h = est.hours_to(limit)
                hours = h if math.isfinite(h) and h >= 0 else None
                below = est.probability_below(limit, horizon)
                prob = below if falling else 1.0 - below
            signals[signal] = SignalTrend(signal, est, limit, hours, prob, horizon)
        gain = rate = None
        w = self.trend["weight"].estimate(now)
        if w is not None:
            rate = w.slope_per_h * 24.0
            if base_w:
                gain = (w.level - base_w) / base_w * 100.0
        return TrendSummary(
            time=now,
            signals=signals,
            baselines=self._baselines.as_dict(),
            weight_gain_pct=gain,
            weight_kg_per_24h=rate,
            active=self.active,
            rejected=self.rejected.as_dict(),
        )

    # ------------------------------------------------------------------ helpers

    def _emit(self, out: list[Output], alert: Alert | None) -> None:
        if alert is None:
            return
        out.append(alert)
        if alert.code in (
            AlertCode.HYPOTENSION,
            AlertCode.BP_FALLING,
            AlertCode.WEIGHT_GAIN,
            AlertCode.DESATURATION,
            AlertCode.SPO2_FALLING,
        ):
            self._eval_cls(alert.time, out)

    def _stale(self, signal: str, t: float, last: float) -> bool:
        """Count a reading not newer than the last one of its signal; True to use it anyway.

        A run of consecutive late readings means the timeline itself moved back
        (a device clock corrected after a glitch into the future): after
        :data:`_STALE_RESET` of them the signal follows the new timeline.
        """
        if t == last:
            self.rejected.count(signal, "duplicate")
            return False
        key = "nibp" if signal in NIBP_SIGNALS else signal
        run = self._stale_run.get(key, 0) + 1
        if run < _STALE_RESET[key]:
            self._stale_run[key] = run
            self.rejected.count(signal, "stale")
            return False
        self._stale_run[key] = 0
        self.rejected.count(signal, "timeline_reset")
        if key == "nibp":
            self._last_cycle_time = -math.inf
        else:
            self._last[key] = -math.inf
        if t < self.now:
            self.now = t
            self._next_timed = t
        return True

    def _timed(self, t: float, out: list[Output]) -> None:
        self._next_timed = t + 1.0
        if t >= self._baseline_close:
            self._baselines.close_due(t)
            self._baseline_close = self._baselines.next_close
        if self._nibp.open and t > self._nibp.time:
            self._close_nibp(out)
        th = self.th
        overdue = self.conditions[AlertCode.NIBP_OVERDUE]
        last = self._last_nibp_ok
        if last is not None and not overdue.active and t - last > th.nibp_overdue_min * 60.0:
            self._emit(
                out,
                overdue.force(
                    t,
                    1,
                    f"no NIBP for {(t - last) / 60:.0f} min (interval {th.nibp_overdue_min:g} min)",
                    {"minutes_since_nibp": _r1((t - last) / 60.0)},
                ),
            )
        hold = self.conditions[AlertCode.DOSE_HOLD_ADVISED]
        if hold.active and t >= self._hold_until:
            self._hold_until = math.inf
            self._emit(out, hold.force(t, 0, "due time passed: pre-dose hold advice closed", {}))
        due = self.schedule.check_due(t)
        if due is not None:
            self._dose_check(t, due, out)

    # ------------------------------------------------------------------ SpO2 / pulse

    def _on_spo2(self, r: Reading, t: float, out: list[Output]) -> None:
        last = self._last["spo2"]
        if t <= last:
            if not self._stale("spo2", t, last):
                return
        elif self._stale_run:
            self._stale_run.pop("spo2", None)
        if r.flags and self._flagged(r, t, out):
            return
        self._last["spo2"] = t
        if self._off_since:
            self._sensor_on(r.source, t, out)
        v = r.value
        if not 50.0 <= v <= 100.0:
            # pobm/PhysioZoo: values < 50 are unusable; blank what follows for 10 s
            self.rejected.count("spo2", "implausible")
            self._blank_until = t + 10.0
            return
        if t < self._blank_until:
            self.rejected.count("spo2", "blanked")
            return
        motion = self._motion
        if t < motion.until and motion.active(t):
            if motion.since != self._motion_episode:  # a new episode: SpO2 before it
                self._motion_episode = motion.since
                trend = self.trend["spo2"]
                # the dip may have started a few seconds before the pulse gave it away
                level = trend.level if trend.n else 0.0
                self._motion_ref = max(self._spo2_filter.last, level)
            if v < self._motion_ref - 1.0:
                self.rejected.count("spo2", "motion")
                return
        if not self._spo2_filter.accept(t, v):
            self.rejected.count("spo2", "fast_change")
            return
        sat = self._sat
        if v < sat.limit or sat.total > 0.0 or sat.below or not self._desat.idle:
            sat.update(t, v)
            self._eval_desat(t, v, out)
        else:
            sat.last_time = t
        done = self._spo2_minutes.add(t, v)
        if done is not None:
            self._spo2_minute_done(done, t, out)

    def _eval_desat(self, t: float, v: float, out: list[Output]) -> None:
        sat = self._sat
        cond = self._desat
        rapid = v <= self._rapid_level
        # once on, it stays on until the integral is empty and SpO2 is 2 points above the
        # limit (hysteresis), for 60 s: a saturation hovering at the limit does not flap
        recovered = sat.quiet and v >= sat.limit + 2.0
        want = 3 if sat.tripped or rapid or (cond.active and not recovered) else 0
        if want == 0 and cond.idle:
            return
        msg = (
            f"SpO2 {v:.0f} % below {sat.limit:g} % (SatSeconds {sat.total:.0f})"
            if want
            else f"SpO2 recovered to {v:.0f} %"
        )
        values = {"spo2": v, "satseconds": _r1(sat.total), "limit": sat.limit, "rapid": rapid}
        self._emit(out, cond.update(t, want, msg, values))

    def _spo2_minute_done(
        self, done: tuple[float, float, int], t: float, out: list[Output]
    ) -> None:
        """A finished minute of SpO2; ``t`` is the reading that closed it (the alert time)."""
        tm, mean, _n = done
        self._spo2_minute = (tm, mean)
        self._baselines.observe("spo2", tm, mean)
        trend = self.trend["spo2"].update(tm, mean)
        th = self.th
        base = self._baselines.value("spo2")
        if base is None:
            return  # "a drift down from baseline" needs the baseline first
        limit = min(th.spo2_floor_pct, base - th.spo2_drop_points)
        cond = self.conditions[AlertCode.SPO2_FALLING]
        level = trend.level
        want = 2 if level < (limit + 1.0 if cond.active else limit) else 0
        if want == 0 and cond.idle:
            return
        msg = (
            f"SpO2 trend {level:.1f} % below {limit:.1f} % "
            f"(baseline {f'{base:.1f}' if base else '-'})"
            if want
            else f"SpO2 trend back to {level:.1f} %"
        )
        values = {
            "spo2_level": _r1(level),
            "spo2_slope_per_h": round(trend.slope_per_h, 2),
            "limit": _r1(limit),
            "baseline": base,
        }
        self._emit(out, cond.update(t, want, msg, values))

    def _on_pulse(self, r: Reading, t: float, out: list[Output]) -> None:
        last = self._last["pulse"]
        if t <= last:
            if not self._stale("pulse", t, last):
                return
        elif self._stale_run:
            self._stale_run.pop("pulse", None)
        if r.flags and self._flagged(r, t, out):
            return
        self._last["pulse"] = t
        v = r.value
        if not 20.0 <= v <= 300.0:
            self.rejected.count("pulse", "implausible")
            return
        if self._motion.pulse(t, v):
            self.rejected.count("pulse", "motion")
            return
        done = self._pulse_minutes.add(t, v)
        if done is not None:
            self._pulse_minute_done(done, t, out)

    def _pulse_minute_done(
        self, done: tuple[float, float, int], t: float, out: list[Output]
    ) -> None:
        tm, mean, _n = done
        hr = self._pulse_avg.update(tm, mean).value
        assert hr is not None
        self._baselines.observe("pulse", tm, mean)
        self.trend["pulse"].update(tm, mean)
        th = self.th
        cond = self.conditions[AlertCode.TACHYCARDIA]
        want = graded(hr, ((2, th.tachycardia_bpm), (3, th.tachycardia_high_bpm)), cond.rank, 5.0)
        if want == 0 and cond.idle:
            return
        msg = (
            f"pulse {hr:.0f} /min above {th.tachycardia_bpm:g}"
            if want == 2
            else f"pulse {hr:.0f} /min above {th.tachycardia_high_bpm:g}"
            if want == 3
            else f"pulse back to {hr:.0f} /min"
        )
        values = {"pulse": _r1(hr), "minute_mean": _r1(mean)}
        self._emit(out, cond.update(t, want, msg, values))

    def _on_pi(self, r: Reading, t: float, out: list[Output]) -> None:
        if r.flags and not r.flags.isdisjoint(SENSOR_OFF_FLAGS):
            self._flagged(r, t, out)

    # ------------------------------------------------------------------ flags / sensor off

    def _flagged(self, r: Reading, t: float, out: list[Output]) -> bool:
        """Handle a reading with flags; True when it was rejected."""
        flags = r.flags
        if flags.isdisjoint(FAULT_FLAGS):
            return False
        if r.signal != "pi":
            self.rejected.count(r.signal, fault_reason(r) or "flagged")
        if not flags.isdisjoint(SENSOR_OFF_FLAGS):
            src = r.source
            since = self._off_since.get(src)
            if since is None:
                if len(self._off_since) >= _MAX_SOURCES:
                    return True
                self._off_since[src] = since = t
            cond = self._off_conditions.get(src)
            if (cond is None or not cond.active) and t - since >= self.th.sensor_off_grace_s:
                if cond is None:
                    if len(self._off_conditions) >= _MAX_SOURCES:
                        return True
                    cond = Condition(AlertCode.SENSOR_OFF, source=src)
                    self._off_conditions[src] = cond
                msg = f"{src or 'device'}: no sensor on the patient for {t - since:.0f} s"
                self._emit(out, cond.force(t, 1, msg, {"seconds": _r1(t - since)}))
        return True

    def _sensor_on(self, src: str, t: float, out: list[Output]) -> None:
        if self._off_since.pop(src, None) is None:
            return
        cond = self._off_conditions.get(src)
        if cond is not None and cond.active:
            self._emit(out, cond.force(t, 0, f"{src or 'device'}: sensor back on", {}))

    # ------------------------------------------------------------------ NIBP

    def _on_nibp(self, r: Reading, t: float, out: list[Output]) -> None:
        asm = self._nibp
        if asm.open and not asm.belongs(r):
            self._close_nibp(out)
        if not asm.open:
            last = self._last_cycle_time
            if t <= last:
                if not self._stale(r.signal, t, last):
                    return
            elif self._stale_run:
                self._stale_run.pop("nibp", None)
        if self._off_since and not (r.flags and not r.flags.isdisjoint(SENSOR_OFF_FLAGS)):
            self._sensor_on(r.source, t, out)
        asm.add(r)
        if asm.complete:
            self._close_nibp(out)

    def _close_nibp(self, out: list[Output]) -> None:
        asm = self._nibp
        cycle = asm.flush()
        if cycle is None:
            return
        self._last_cycle_time = cycle.time
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
            verdict = gate.check(value, innovation, variance)
        if verdict == "hold":
            self._held = cycle
            return
        held, self._held = self._held, None
        if verdict == "confirm" and held is not None:
            self._accept_cycle(held, out)
        elif verdict == "refute" and held is not None:
            n = (held.sbp is not None) + (held.dbp is not None)
            n += held.map is not None and not held.map_derived
            self.rejected.count("nibp", "outlier", n)
        self._accept_cycle(cycle, out)

    def _accept_cycle(self, c: NibpCycle, out: list[Output]) -> None:
        t = c.time
        self.last_nibp = c
        self._last_nibp_ok = t
        for signal, value in (("sbp", c.sbp), ("map", c.map), ("dbp", c.dbp)):
            if value is not None:
                self.trend[signal].update(t, value)
                if signal != "dbp":
                    self._baselines.observe(signal, t, value)
        overdue = self.conditions[AlertCode.NIBP_OVERDUE]
        if overdue.active:
            self._emit(out, overdue.force(t, 0, "NIBP measured again", {}))
        self._eval_bp(c, out)

    def _eval_bp(self, c: NibpCycle, out: list[Output]) -> None:
        th = self.th
        t = c.time
        hyst = th.bp_hysteresis_mmhg
        # bp_falling: % below baseline, or projected to cross the limit with confidence
        fall = self.conditions[AlertCode.BP_FALLING]
        active = fall.active
        values: dict[str, Any] = {}
        reasons: list[str] = []
        for signal, limit in (("sbp", th.hold_sbp_mmhg), ("map", th.hold_map_mmhg)):
            trend = self.trend[signal]
            if trend.n == 0 or trend.last_time != t:
                continue
            est = trend.estimate(t)
            assert est is not None
            base = self._baselines.value(signal)
            values[f"{signal}_level"] = _r1(est.level)
            values[f"{signal}_slope_per_h"] = round(est.slope_per_h, 2)
            if base:
                below_pct = (base - est.level) / base * 100.0
                values[f"{signal}_baseline"] = _r1(base)
                values[f"{signal}_below_baseline_pct"] = _r1(below_pct)
                need = th.bp_fall_pct - (hyst / base * 100.0 if active else 0.0)
                # % below baseline on SBP only (the label criterion): IL-2 vasodilation
                # widens the pulse pressure, so MAP falls 20 % while SBP is still safe;
                # MAP counts through its projection to the MAP limit below
                if signal == "sbp" and below_pct >= need:
                    reasons.append(f"{signal.upper()} {below_pct:.0f} % below baseline")
            if est.n >= 3 and est.slope_per_h < 0:
                p = est.probability_below(limit, th.bp_projection_h)
                hours = est.hours_to(limit)
                values[f"{signal}_probability"] = round(p, 3)
                if math.isfinite(hours):
                    values[f"{signal}_hours_to_limit"] = round(hours, 2)
                if p >= (0.5 if active else th.bp_projection_confidence):
                    reasons.append(
                        f"{signal.upper()} projected below {limit:g} within "
                        f"{th.bp_projection_h:g} h (p={p:.2f})"
                    )
        want = 2 if reasons else 0
        if want or not fall.idle:
            msg = "; ".join(reasons) if reasons else "blood pressure trend recovered"
            self._emit(out, fall.update(t, want, msg, values))
        # hypotension: the label hold criterion on a validated cycle
        hypo = self.conditions[AlertCode.HYPOTENSION]
        extra = hyst if hypo.active else 0.0
        low_sbp = c.sbp is not None and c.sbp < th.hold_sbp_mmhg + extra
        low_map = c.map is not None and c.map < th.hold_map_mmhg + extra
        want = 3 if low_sbp or low_map else 0
        if want or not hypo.idle:
            hvalues: dict[str, Any] = {"sbp": c.sbp, "map": _r1(c.map) if c.map else None}
            if c.map_derived:
                hvalues["map_derived"] = True
            msg = (
                f"SBP {c.sbp if c.sbp is not None else '-'} / MAP "
                f"{'-' if c.map is None else round(c.map)} mmHg: below the hold limit "
                f"(SBP < {th.hold_sbp_mmhg:g} or MAP < {th.hold_map_mmhg:g})"
                if want
                else "blood pressure back above the hold limits"
            )
            self._emit(out, hypo.update(t, want, msg, hvalues))

    # ------------------------------------------------------------------ weight

    def _on_weight(self, r: Reading, t: float, out: list[Output]) -> None:
        last = self._last["weight"]
        if t <= last:
            if not self._stale("weight", t, last):
                return
        elif self._stale_run:
            self._stale_run.pop("weight", None)
        if r.flags and self._flagged(r, t, out):
            return
        self._last["weight"] = t
        v = r.value
        if not 2.0 <= v <= 400.0:
            self.rejected.count("weight", "implausible")
            return
        accepted, rejected, reason = self._weight_steps.add(t, v)
        if rejected:
            self.rejected.count("weight", reason, rejected)
        for tw, w in accepted:
            self._last_weight = w
            self._baselines.observe("weight", tw, w)
            self.trend["weight"].update(tw, w)
            self._eval_weight(tw, out)

    def _eval_weight(self, t: float, out: list[Output]) -> None:
        base = self._baselines.value("weight")
        if not base:
            return
        th = self.th
        trend = self.trend["weight"]
        gain = (trend.level - base) / base * 100.0
        # entering a step needs the level's lower bound (level - 1 SD) past it: one
        # noisy standing-scale reading does not do it, a confirmed trend does
        sure = (trend.level - math.sqrt(trend.level_var) - base) / base * 100.0
        cond = self.conditions[AlertCode.WEIGHT_GAIN]
        s0, s1, s2 = th.weight_gain_pct
        want = graded(sure, ((1, s0), (2, s1), (3, s2)), 0, 0.0)
        keep = graded(gain, ((1, s0), (2, s1), (3, s2)), cond.rank, th.weight_hysteresis_pct)
        want = max(want, min(keep, cond.rank))
        if want == 0 and cond.idle:
            return
        rate = trend.slope_per_h * 24.0
        msg = (
            f"weight {trend.level:.1f} kg, {gain:+.1f} % over baseline {base:g} kg "
            f"({rate:+.2f} kg/24 h)"
        )
        values = {
            "weight_kg": _r1(trend.level),
            "baseline_kg": base,
            "gain_pct": round(gain, 2),
            "kg_per_24h": round(rate, 3),
        }
        self._emit(out, cond.update(t, want, msg, values))

    # ------------------------------------------------------------------ CLS, dose check

    def _eval_cls(self, t: float, out: list[Output]) -> None:
        ranks = {
            domain: max(self.conditions[code].rank for code in codes)
            for domain, codes in _CLS_DOMAINS.items()
        }
        involved = [d for d, rank in ranks.items() if rank > 0]
        want = 0
        if len(involved) >= 2:
            want = 3 if len(involved) == 3 or max(ranks.values()) == 3 else 2
        cond = self.conditions[AlertCode.CLS_SUSPECTED]
        if want == 0 and cond.idle:
            return
        msg = (
            f"capillary leak suspected: concurrent evidence in {', '.join(involved)}"
            if want
            else "capillary-leak evidence no longer concurrent"
        )
        values = {f"{d}_rank": rank for d, rank in ranks.items()}
        values["domains"] = len(involved)
        alert = cond.update(t, want, msg, values)
        if alert is not None:
            out.append(alert)

    def hold_criteria(self, now: float) -> tuple[HoldCriterion, ...]:
        """Every hold criterion with its current value (``clinical.md``, hold criteria)."""
        th = self.th
        recent = 3600.0  # values older than this are "no recent data"
        sbp = None
        cycle = self._held if self._held is not None else self.last_nibp
        if cycle is not None and cycle.sbp is not None and now - cycle.time <= 4 * recent:
            sbp = cycle.sbp
        spo2 = None
        if self._spo2_minute is not None and now - self._spo2_minute[0] <= recent:
            spo2 = self._spo2_minute[1]
        gain = None
        base = self._baselines.value("weight")
        w = self.trend["weight"]
        if base and w.n:
            gain = (w.level - base) / base * 100.0
        hr = self._pulse_avg.value if now - self._pulse_avg.last_time <= recent else None
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

    def _dose_check(self, t: float, due: float, out: list[Output]) -> None:
        check = DoseCheck(t, due, self.schedule.dose_number(due), self.hold_criteria(t))
        self.last_dose_check = check
        out.append(check)
        hold = self.conditions[AlertCode.DOSE_HOLD_ADVISED]
        if check.hold_advised:
            names = ", ".join(f"{c.name} {c.value:.1f} ({c.limit})" for c in check.met)
            values = {c.name: round(c.value, 2) for c in check.met if c.value is not None}
            values["minutes_to_dose"] = _r1((due - t) / 60.0)
            self._hold_until = due
            alert = hold.force(t, 2, f"pre-dose check: hold criterion met: {names}", values)
            if alert is None:  # still active from an earlier check: say it again
                hold.force(t, 0, "", {})
                alert = hold.force(t, 2, f"pre-dose check: hold criterion met: {names}", values)
            self._emit(out, alert)
        elif hold.active:
            self._hold_until = math.inf
            self._emit(out, hold.force(t, 0, "pre-dose check: no hold criterion met", {}))
