"""Where the time of ``capleak evaluate`` goes (run by ``scripts/bench-evaluation``).

For each patient (cohort seed 1, indices 0..N-1) and artifact model, every stage of a
worker's unit of work (:func:`edge.lab.evaluation.runner.run_patient`) is timed on its own,
in CPU seconds of this process (``time.process_time``; the machine is shared, and CPU time
moves less with the load than wall time):

- ``generate``: the virtual patient and its device output (:func:`edge.lab.patient.generate`);
- ``rows``: laying out the ~0.86 M rows the feed reads (``streams.rows()``: plain
  values; before issue 12's speed work the feed built a :class:`~edge.vocabulary.Reading`
  for each, about 0.4 us a row);
- ``feed+core``: the evaluation's feed loop with the real core
  (:func:`~edge.lab.evaluation.runner.replay_core`, rows read as it goes, SpO2 and pulse
  given to ``Core.sample`` as values), so ``feed+core - rows`` is the core with the loop;
- ``episodes``: alert events -> episodes (:func:`~edge.lab.evaluation.runner.alert_instances`);
- ``comparators``: the threshold monitor and NEWS2;
- ``transfer``: pickling the worker's result (what crosses the process boundary);
- ``score+write``: the report's summary and its JSON for the patients measured.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from edge.core import Core
from edge.lab.evaluation import report
from edge.lab.evaluation.comparators import monitor_alarms, news2_alerts
from edge.lab.evaluation.runner import (
    DEFAULT_DETECTOR,
    Job,
    alert_instances,
    default_config,
    replay_core,
    run_patient,
)
from edge.lab.patient import generate

STAGES = ("generate", "rows", "feed+core", "episodes", "comparators", "transfer")


def measure(index: int, days: float, artifacts: str) -> tuple[dict[str, float], object, int]:
    clock = time.process_time
    cost: dict[str, float] = {}
    t = clock()
    sc = generate(None, seed=1, index=index, days=days, artifacts=artifacts)
    cost["generate"] = clock() - t
    t = clock()
    n = 0
    for _ in sc.streams.rows():
        n += 1
    cost["rows"] = clock() - t
    t = clock()
    outputs = replay_core(sc, Core, default_config())
    cost["feed+core"] = clock() - t
    t = clock()
    alert_instances(iter(outputs))
    cost["episodes"] = clock() - t
    t = clock()
    list(monitor_alarms(sc.streams))
    traj = sc.trajectory
    rng = np.random.default_rng([1, index, 2])
    list(news2_alerts(sc.streams, traj.t, traj.temp, traj.oxygen, rng))
    cost["comparators"] = clock() - t
    run = run_patient(Job(1, index, days, DEFAULT_DETECTOR, default_config(), artifacts))
    t = clock()
    pickle.loads(pickle.dumps(run))
    cost["transfer"] = clock() - t
    return cost, run, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=3, help="patients per model (default 3)")
    ap.add_argument("--days", type=float, default=5.0, help="days per patient (default 5)")
    ap.add_argument("--artifacts", default="a,b", help="models, comma-separated (default a,b)")
    args = ap.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; CPU s per {args.days:g}-day patient, "
        f"median of {args.patients}"
    )
    for model in args.artifacts.split(","):
        costs, runs, count = [], [], 0
        generate(None, seed=1, index=0, days=0.1, artifacts=model)  # lazy imports (scipy)
        for i in range(args.patients):
            cost, run, n = measure(i, args.days, model)
            costs.append(cost)
            runs.append(run)
            count += n
        t = time.process_time()
        meta = {
            "seed": 1,
            "days": args.days,
            "detector": DEFAULT_DETECTOR,
            "artifact_model": model,
            "command": "scripts/bench-evaluation",
            "jobs": 1,
            "wall_seconds": 0.0,
        }
        summary = report.summarise(runs, meta)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory() as tmp:
            report.write(summary, Path(tmp))
        med = {k: statistics.median(c[k] for c in costs) for k in STAGES}
        feed_core = med.pop("feed+core")
        med["core+loop"] = feed_core - med["rows"]
        med["score+write"] = (time.process_time() - t) / args.patients
        total = sum(med.values())
        per_patient = count / args.patients
        print(f"model {model}: {per_patient:,.0f} readings/patient")
        for k, v in med.items():
            print(f"  {k:12s} {v:7.3f} s  {v / total:6.1%}")
        us = {k: med[k] / per_patient * 1e6 for k in ("rows", "core+loop")}
        print(
            f"  {'total':12s} {total:7.3f} s  (per reading: its row "
            f"{us['rows']:.2f} us, core and feed loop {us['core+loop']:.2f} us; "
            f"feed+core {feed_core:.3f} s)"
        )
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
