"""Benchmark of the signal-processing core (run by ``scripts/bench-core``).

Generates a 5-day stay as a replay CSV (1 Hz SpO2 and pulse with motion
artifacts, NIBP every 15 min, two weights a day, a dose every 8 h: about
870k readings), then measures in the same run:

- a bare ``csv.reader`` pass over the file (the floor any replay pays);
- parsing the file into ``Reading`` objects (``edge.core.replay.read_replay``);
- the core alone: ``Core.update`` over readings parsed beforehand, timed per
  chunk so parsing is excluded;
- the whole ``capleak replay`` loop (parse + core) for reference.

Each figure is the best of ``--repeat`` runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import platform
import random
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config import BedConfig, Config
from edge.core import Core
from edge.core.replay import Dose, iter_replay, read_replay

T0 = 1_780_000_000


def generate(path: Path, days: float, seed: int = 1) -> int:
    """Write the stay; returns the number of data rows."""
    rng = random.Random(seed)
    n = 0
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "signal", "value", "flags"])
        spo2_wander = 0.0
        artifact_left = 0
        for i in range(int(days * 86400)):
            t = T0 + i
            h = i / 3600.0
            if i % 28800 == 3600:
                w.writerow([t, "dose", "", ""])
            if i % 900 == 0:
                s = round(122 + 6 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 5))
                d = round(s * 0.62 + rng.gauss(0, 3))
                m = round(d + (s - d) / 3)
                w.writerows([[t, "sbp", s, ""], [t, "dbp", d, ""], [t, "map", m, ""]])
                n += 3
            if i % 43200 == 60:
                w.writerow([t, "weight", round(72 + h / 120 + rng.gauss(0, 0.2), 1), ""])
                n += 1
            spo2_wander += -0.002 * spo2_wander + rng.gauss(0, 0.03)
            if artifact_left == 0 and rng.random() < 1 / 1800:
                artifact_left = rng.randint(5, 60)
            flags = ""
            spo2 = 97 + spo2_wander + rng.gauss(0, 0.6)
            pulse = 80 + 5 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 1.5)
            if artifact_left:
                artifact_left -= 1
                flags = "artifact"
                spo2 -= rng.uniform(0, 30)
            w.writerow([t, "spo2", min(100, round(spo2)), flags])
            w.writerow([t, "pulse", round(pulse), flags])
            n += 2
    return n


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(fn())
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--keep", help="write the CSV here and keep it")
    args = ap.parse_args()
    config = Config(bed=BedConfig("bench", "bench", "bench"))

    tmp = None
    if args.keep:
        path = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "stay.csv"
    t = time.perf_counter()
    rows = generate(path, args.days)
    print(
        f"generated {rows:,} readings ({path.stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - t:.1f} s"
    )

    def bare_csv() -> float:
        t0 = time.perf_counter()
        with open(path, newline="") as f:
            for _row in csv.reader(f):
                pass
        return time.perf_counter() - t0

    def parse() -> float:
        t0 = time.perf_counter()
        with open(path, newline="") as f:
            for _ev in read_replay(f):
                pass
        return time.perf_counter() - t0

    outputs = []

    def core_only() -> float:
        core = Core(config)
        update, dose = core.update, core.dose
        elapsed = 0.0
        n_out = 0
        with open(path, newline="") as f:
            events = read_replay(f)
            while True:
                chunk = list(islice(events, args.chunk))
                if not chunk:
                    break
                t0 = time.perf_counter()
                for ev in chunk:
                    if type(ev) is Dose:
                        n_out += len(dose(ev.time))
                    else:
                        n_out += len(update(ev))
                elapsed += time.perf_counter() - t0
        outputs.append(n_out)
        return elapsed

    def whole() -> float:
        core = Core(config)
        t0 = time.perf_counter()
        with open(path, newline="") as f:
            for _o in iter_replay(read_replay(f), core):
                pass
        return time.perf_counter() - t0

    t_csv = best(args.repeat, bare_csv)
    t_parse = best(args.repeat, parse)
    t_core = best(args.repeat, core_only)
    t_whole = best(args.repeat, whole)
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared), best of {args.repeat}"
    )
    print(f"bare csv.reader:        {rows / t_csv:12,.0f} rows/s      ({t_csv:.2f} s)")
    print(f"parse to Readings:      {rows / t_parse:12,.0f} readings/s  ({t_parse:.2f} s)")
    print(
        f"core only:              {rows / t_core:12,.0f} readings/s  ({t_core:.2f} s, "
        f"{t_core / rows * 1e6:.2f} us/reading, {outputs[-1]} outputs)"
    )
    print(f"replay (parse + core):  {rows / t_whole:12,.0f} readings/s  ({t_whole:.2f} s)")
    print(
        f"core / bare csv parse:  {t_csv / t_core:.2f}x the rate "
        f"(core takes {t_core / t_csv:.2f}x the time of csv.reader)"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
