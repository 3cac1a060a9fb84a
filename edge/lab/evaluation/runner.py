"""Generate a virtual cohort and replay every patient through the detectors.

The detector under test is the real core (``edge.core:Core``), fed every reading
of the patient's streams in arrival order exactly as ``capleak replay`` would,
with ``dose(time)`` at each dose and ``tick(now)`` once a simulated minute. The
comparators (:mod:`edge.lab.evaluation.comparators`) run on the same streams.
Patients are independent, so the cohort runs in worker processes; results are
put back in patient order, so a seed gives the same report for any ``jobs``.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.config import BedConfig, Config
from edge.lab.evaluation.comparators import monitor_alarms, news2_alerts
from edge.lab.evaluation.metrics import PatientOutcome
from edge.lab.patient import ARTIFACT_MODELS, SOURCE, Scenario, generate
from edge.vocabulary import UNIT_OF, Alert, Kind, Priority, Reading

log = logging.getLogger(__name__)

DEFAULT_DETECTOR = "edge.core:Core"
TICK_S = 60.0


class EvaluationError(RuntimeError):
    """The evaluation cannot run (e.g. the detector cannot be imported)."""


def load_detector(spec: str) -> Callable[[Config], Any]:
    """``module:attr`` -> a callable taking a :class:`Config` and returning a detector."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise EvaluationError(f"detector must be 'module:attr', got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise EvaluationError(f"cannot load detector {spec!r}: {e}") from None
    if not callable(obj):
        raise EvaluationError(f"detector {spec!r} is not callable")
    return obj


def default_config() -> Config:
    return Config(bed=BedConfig(site="eval", unit="eval", bed="virtual"))


def patient_config(base: Config, scenario: Scenario) -> Config:
    """The bed config with the admission weight a nurse would enter as the baseline."""
    patient = dataclasses.replace(base.patient, baseline_weight_kg=scenario.streams.baseline_weight)
    return dataclasses.replace(base, patient=patient)


def alert_instances(
    outputs: Iterator[tuple[float, Any]],
    end: float = math.inf,
    kinds: tuple[Kind, ...] = (Kind.PHYSIOLOGICAL,),
    min_rank: int = 2,
) -> list[tuple[float, float, str]]:
    """Physiological alert events -> episodes at medium/high priority: (start, end, code).

    An episode starts when an alert starts at medium/high, or escalates from low
    (or inactive) to medium/high; it ends when the alert ends or de-escalates
    below medium (``end`` for one still active). Keyed by code and source.
    ``kinds`` and ``min_rank`` (1 low, 2 medium, 3 high) widen it, e.g. for alarm load.
    """
    rank: dict[tuple[str, str], int] = {}
    open_at: dict[tuple[str, str], int] = {}
    out: list[tuple[float, float, str]] = []
    for _, o in outputs:
        if not isinstance(o, Alert) or o.kind not in kinds:
            continue
        key = o.key
        before = rank.get(key, 0)
        now = 0 if o.phase.value == "end" else Priority(o.priority).rank
        rank[key] = now
        if now >= min_rank and before < min_rank:
            open_at[key] = len(out)
            out.append((o.time, end, o.code))
        elif now < min_rank and before >= min_rank and key in open_at:
            i = open_at.pop(key)
            out[i] = (out[i][0], o.time, out[i][2])
    return out


def _sample_by_update(update: Callable[[Reading], Any]) -> Callable[..., Any]:
    """``sample(signal, time, value, flags, source)`` for a detector with ``update`` only."""

    def sample(signal: str, time: float, value: float, flags: frozenset[str], source: str) -> Any:
        return update(Reading(time, signal, value, UNIT_OF[signal], source, flags))

    return sample


def replay_core(scenario: Scenario, make: Callable[[Config], Any], config: Config) -> list:
    """Feed the scenario to a fresh detector; returns ``(time, output)`` pairs.

    The rows go in as plain values (``Core.sample``: no :class:`Reading` is built for
    the 1 Hz SpO2 and pulse); a detector without ``sample`` gets each row as a Reading
    (what ``streams.readings()`` builds) through ``update``.
    """
    core = make(patient_config(config, scenario))
    outputs: list[tuple[float, Any]] = []
    next_tick = scenario.streams.start + TICK_S
    tick, dose = core.tick, core.dose
    sample = getattr(core, "sample", None) or _sample_by_update(core.update)
    source = SOURCE
    for t, signal, value, flags in scenario.streams.rows():
        if signal == "dose":
            for o in dose(t) or ():
                outputs.append((t, o))
            continue
        if t >= next_tick:
            while t >= next_tick:
                for o in tick(next_tick) or ():
                    outputs.append((next_tick, o))
                next_tick += TICK_S
        res = sample(signal, t, value, flags, source)
        if res:
            for o in res:
                outputs.append((t, o))
    return outputs


@dataclass(frozen=True, slots=True)
class Job:
    seed: int
    index: int
    days: float
    detector: str | None
    config: Config
    artifacts: str = "a"


@dataclass(slots=True)
class PatientRun:
    outcome: PatientOutcome
    truth: dict[str, Any]
    readings: int
    seconds: dict[str, float] = field(default_factory=dict)
    #: capleak alert starts for alarm load: "physiological" (medium/high), "technical"
    #: (medium/high), "any" (every kind and priority)
    load: dict[str, int] = field(default_factory=dict)


#: Episodes in an artifact model's log that are real physiology, not artifacts (model B).
REAL_DIPS = ("sleep_desaturation",)

#: The hold limit for a low cuff reading (clinical.md: withhold for SBP < 90 mmHg).
LOW_CUFF_SBP = 90.0


def first_true_low_cuff(sc: Scenario) -> float | None:
    """Seconds from the start of the first cuff reading below the hold limit whose TRUE
    SBP was below it too (the first time a hold criterion can be observed on the cuff)."""
    st = sc.streams
    rel = st.nibp_t - st.start
    true = np.interp(rel, sc.trajectory.t, sc.trajectory.sbp)
    hit = np.flatnonzero((st.sbp < LOW_CUFF_SBP) & (true < LOW_CUFF_SBP))
    return float(rel[hit[0]]) if len(hit) else None


def news2_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of NEWS2's simulated thermometer for patient ``(seed, index)``: the
    runner and the patient plot draw the same temperatures from it."""
    return np.random.default_rng([seed, index, 2])


def run_patient(job: Job) -> PatientRun:
    """Generate one patient and run every detector on it (a worker's unit of work)."""
    t0 = time.perf_counter()
    sc = generate(None, seed=job.seed, index=job.index, days=job.days, artifacts=job.artifacts)
    t1 = time.perf_counter()
    start = sc.streams.start
    alerts: dict[str, list[tuple[float, float, str]]] = {}
    load: dict[str, int] = {}
    if job.detector is not None:
        outputs = replay_core(sc, load_detector(job.detector), job.config)
        stop = start + sc.truth["duration_s"]
        alerts["capleak"] = [
            (t - start, e - start, code) for t, e, code in alert_instances(iter(outputs), stop)
        ]
        load["physiological"] = len(alerts["capleak"])
        load["technical"] = len(alert_instances(iter(outputs), stop, (Kind.TECHNICAL,)))
        load["any"] = len(alert_instances(iter(outputs), stop, tuple(Kind), min_rank=1))
    t2 = time.perf_counter()
    alerts["monitor"] = [
        (e.time - start, e.until - start, e.indicator) for e in monitor_alarms(sc.streams)
    ]
    rng = news2_rng(job.seed, job.index)
    alerts["news2"] = [
        (e.time - start, e.until - start, e.indicator)
        for e in news2_alerts(
            sc.streams, sc.trajectory.t, sc.trajectory.temp, sc.trajectory.oxygen, rng
        )
    ]
    t3 = time.perf_counter()
    tr = sc.truth
    outcome = PatientOutcome(
        index=job.index,
        severity=tr["severity"],
        duration_s=tr["duration_s"],
        onset_s=tr["onset_s"],
        first_hold_s=tr["first_hold_s"],
        alerts=alerts,
        first_low_cuff_s=first_true_low_cuff(sc),
        first_hold_criterion=tr["first_hold_criterion"],
        real_dips=tuple(
            (a, b) for kind, a, b, _ in getattr(sc.streams, "log", ()) if kind in REAL_DIPS
        ),
    )
    return PatientRun(
        outcome,
        tr,
        sc.streams.count(),
        {"generate": t1 - t0, "detector": t2 - t1, "comparators": t3 - t2},
        load,
    )


def run_cohort(
    patients: int,
    seed: int,
    days: float = 5.0,
    detector: str | None = DEFAULT_DETECTOR,
    config: Config | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    artifacts: str = "a",
) -> list[PatientRun]:
    """Evaluate ``patients`` virtual patients under artifact model ``artifacts``
    (:data:`edge.lab.patient.ARTIFACT_MODELS`); results in patient order."""
    if patients < 1:
        raise ValueError("patients must be at least 1")
    if detector is not None:
        load_detector(detector)  # fail early, in the parent, with a clear message
    config = config or default_config()
    if artifacts not in ARTIFACT_MODELS:
        raise ValueError(f"unknown artifact model {artifacts!r}")
    work = [Job(seed, i, days, detector, config, artifacts) for i in range(patients)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, patients))
    t0 = time.perf_counter()
    results: list[PatientRun] = []
    if jobs == 1:
        it: Iterator[PatientRun] = map(run_patient, work)
        for r in it:
            results.append(r)
            if progress:
                progress(len(results), patients, time.perf_counter() - t0)
        return results
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        for r in pool.imap(run_patient, work, chunksize=1):
            results.append(r)
            if progress:
                progress(len(results), patients, time.perf_counter() - t0)
    return results
