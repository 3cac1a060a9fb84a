"""Virtual HDIL-2 patients for evaluation and simulation (never on the live path).

A :class:`Scenario` is one patient: drawn parameters, the true physiology
(:mod:`edge.lab.patient.model`), what the devices report (:mod:`edge.lab.patient.measurement`)
and the ground truth (:mod:`edge.lab.patient.truth`). What the devices report comes from
artifact model A (:mod:`edge.lab.patient.measurement`), model B
(:mod:`edge.lab.patient.artifacts_b`, written independently; the core was tuned on A and
B), model C (:mod:`edge.lab.patient.artifacts_c`, written independently of both and of
the core; only its seed 4 was tuned on, for the weight gate) or model D
(:mod:`edge.lab.patient.artifacts_d`, written independently of A, B, C and the core;
only its seed 6 was tuned on); all see the same patients (same
parameters, physiology and truth for a seed and index). It exports as a replay CSV
for ``capleak replay`` plus a ground-truth JSON.

>>> sc = generate("none", seed=1, days=0.5)
>>> sc.truth["severity"] in ("none", "mild")
True
>>> next(iter(sc.streams.rows()))[1] in ("spo2", "weight", "sbp", "pi", "dose")
True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.lab.patient.artifacts_b import StreamsB, measure_b
from edge.lab.patient.artifacts_c import measure_c
from edge.lab.patient.artifacts_d import measure_d
from edge.lab.patient.measurement import Streams, measure
from edge.lab.patient.model import (
    COHORT_MIX,
    SEVERITIES,
    PatientParams,
    Trajectory,
    draw_params,
    simulate,
)
from edge.lab.patient.truth import ground_truth
from edge.vocabulary import Reading, parse_time

__all__ = [
    "ARTIFACT_MODELS",
    "COHORT_MIX",
    "DEFAULT_START",
    "SEVERITIES",
    "SOURCE",
    "PatientParams",
    "Scenario",
    "generate",
    "scenario_readings",
]

#: Artifact models: "a" (measurement.py) and "b" (artifacts_b/), the core was tuned on
#: both; "c" (artifacts_c/, only its seed 4 tuned on) and "d" (artifacts_d/, only seed 6).
ARTIFACT_MODELS = ("a", "b", "c", "d")
#: The device name (``source``) of a virtual patient's readings, unless told otherwise
#: (the default of every model's ``streams.readings()``).
SOURCE = "virtual-patient"
#: Third seed element of model B's generator, so B's artifacts never share draws with the
#: patient (the patient and its truth are the same under A and B).
MODEL_B_STREAM = 0xB
#: The same for model C.
MODEL_C_STREAM = 0xC
#: The same for model D.
MODEL_D_STREAM = 0xD

#: Default scenario start (any fixed time works; a Monday midnight UTC).
DEFAULT_START = parse_time("2026-01-05T00:00:00Z")


@dataclass(slots=True)
class Scenario:
    params: PatientParams
    trajectory: Trajectory
    streams: Streams | StreamsB
    truth: dict[str, Any]
    seed: int
    index: int

    def truth_json(self) -> dict[str, Any]:
        """Ground truth with absolute ISO times alongside the offsets in seconds."""
        from edge.vocabulary import iso_time

        start = self.streams.start
        crit = self.truth["hold_criteria_first_met_s"]
        return {
            "seed": self.seed,
            "index": self.index,
            "start": iso_time(start),
            **self.truth,
            "hold_criteria_first_met": {
                k: (iso_time(start + v) if v is not None else None) for k, v in crit.items()
            },
            "first_hold": (
                iso_time(start + self.truth["first_hold_s"])
                if self.truth["first_hold_s"] is not None
                else None
            ),
            "onset": (
                iso_time(start + self.truth["onset_s"])
                if self.truth["onset_s"] is not None
                else None
            ),
            "baseline_weight_entered_kg": self.streams.baseline_weight,
            "scale": self.streams.scale,
            "params": {k: getattr(self.params, k) for k in self.params.__dataclass_fields__},
        }

    def export(self, csv_path: str, truth_path: str) -> int:
        """Write the replay CSV and the ground-truth JSON; returns the CSV row count."""
        rows = self.streams.write_csv(csv_path)
        with open(truth_path, "w", encoding="utf-8") as f:
            json.dump(self.truth_json(), f, indent=2)
            f.write("\n")
        return rows


def generate(
    severity: str | None = None,
    seed: int = 0,
    index: int = 0,
    days: float = 5.0,
    start: float = DEFAULT_START,
    artifacts: str = "a",
) -> Scenario:
    """One virtual patient, deterministic for ``(seed, index)``.

    ``severity`` is the drawn class; ``None`` draws it from :data:`COHORT_MIX`.
    ``artifacts`` picks the artifact model (:data:`ARTIFACT_MODELS`); the patient, its
    physiology and its truth do not depend on it.
    """
    if artifacts not in ARTIFACT_MODELS:
        raise ValueError(
            f"unknown artifact model {artifacts!r}; known: {', '.join(ARTIFACT_MODELS)}"
        )
    rng = np.random.default_rng([seed, index])
    if severity is None:
        names = list(COHORT_MIX)
        severity = names[int(rng.choice(len(names), p=list(COHORT_MIX.values())))]
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    if not 0.05 <= days <= 30.0:
        raise ValueError(f"days must be between 0.05 and 30, got {days}")
    params = draw_params(severity, rng)
    traj = simulate(params, rng, days=days)
    streams: Streams | StreamsB
    if artifacts == "b":
        streams = measure_b(traj, np.random.default_rng([seed, index, MODEL_B_STREAM]), start)
    elif artifacts == "c":
        streams = measure_c(traj, np.random.default_rng([seed, index, MODEL_C_STREAM]), start)
    elif artifacts == "d":
        streams = measure_d(traj, np.random.default_rng([seed, index, MODEL_D_STREAM]), start)
    else:
        streams = measure(traj, rng, start)
    return Scenario(params, traj, streams, ground_truth(traj), seed, index)


def scenario_readings(
    severity: str,
    seed: int = 0,
    start: float = DEFAULT_START,
    days: float = 5.0,
    source: str = SOURCE,
) -> Iterator[Reading]:
    """The device readings of one virtual patient in time order (doses left out).

    For device simulators (``capleak simulate --scenario patient:moderate:7``):
    each Reading carries its device time, starting near ``start``.
    """
    sc = generate(severity, seed=seed, days=days, start=start)
    for item in sc.streams.readings(source=source, by_time=True):
        if isinstance(item, Reading):
            yield item
