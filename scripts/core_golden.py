"""Record the core's outputs on a fixed workload, or compare two recordings.

Run by ``scripts/core-golden``. A refactoring of ``edge/core`` that must not change
behaviour is checked by recording before the change and comparing after it::

    scripts/core-golden record /tmp/golden-before      # on the old code
    scripts/core-golden record /tmp/golden-after       # on the new code
    scripts/core-golden compare /tmp/golden-before /tmp/golden-after

The workload (every part deterministic):

- ``capleak replay --all`` (a real subprocess, the CLI contract) on virtual-patient
  stays (:mod:`edge.lab.patient`) of every severity and several seeds, with the
  admission weight as ``--baseline-weight`` and, for every other stay, a config with a
  dose schedule and configured baselines;
- the same stays fed in-process the way the evaluation does
  (:func:`edge.lab.evaluation.runner.replay_core`: a ``tick`` once a simulated minute,
  ``dose`` at each dose), followed by the core's inspectable state (``active``,
  ``baselines()``, ``hold_criteria``, ``last_nibp``, ``last_dose_check``,
  ``rejected``, ``trends``);
- random streams that visit the odd paths: late, duplicate and far-future readings,
  every flag, sensor-off runs from several devices, NIBP parts out of order, doses,
  ``set_baseline`` commands and ticks at random times;
- the real MIMIC-III record in ``/work/shared/data/mimic3wdb-s00001`` (1/min numerics,
  converted to a replay CSV), when it is there.

Each part is written as JSON lines to ``OUT/<name>.jsonl``; ``compare`` reports, per
file, the line and alert counts and the first differing line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import BedConfig, Config, PatientConfig  # noqa: E402
from edge.core import Core, output_dict  # noqa: E402
from edge.lab.evaluation.runner import replay_core  # noqa: E402
from edge.lab.patient import generate  # noqa: E402
from edge.vocabulary import FLAGS, Reading, iso_time  # noqa: E402

MIMIC = Path("/work/shared/data/mimic3wdb-s00001")
STAYS = [(sev, seed) for sev in ("none", "mild", "moderate", "severe") for seed in (1, 2, 3)]
FUZZ_SEEDS = range(12)


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=repr)


def _state(core: Core, now: float) -> dict[str, Any]:
    """Everything the facade exposes, at ``now``."""
    nibp = core.last_nibp
    check = core.last_dose_check
    return {
        "type": "state",
        "now": now,
        "active": core.active,
        "baselines": core.baselines(),
        "rejected": core.rejected.as_dict(),
        "hold_criteria": [dataclasses.asdict(c) for c in core.hold_criteria(now)],
        "last_nibp": None if nibp is None else [r.to_dict() for r in nibp.readings()],
        "last_dose_check": None if check is None else check.to_dict(),
        "trends": core.trends(now).to_dict(),
    }


def _config_toml(path: Path, weight: float, scheduled: bool) -> None:
    lines = ['[bed]\nsite = "g"\nunit = "g"\nbed = "g"\n', "[patient]"]
    lines.append(f"baseline_weight_kg = {weight:.3f}")
    if scheduled:
        lines += [
            'dose_start = "2026-01-05T06:00:00Z"',
            "baseline_sbp_mmhg = 118.0",
            "baseline_map_mmhg = 84.0",
            "baseline_spo2_pct = 97.0",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _capleak_replay(csv_path: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "edge.cli", "replay", "--all", str(csv_path), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return [*res.stdout.splitlines(), _json({"type": "stderr", "text": res.stderr})]


def stays(out: Path, days: float, tmp: Path) -> None:
    for sev, seed in STAYS:
        sc = generate(sev, seed=seed, index=0, days=days)
        csv_path = tmp / f"{sev}-{seed}.csv"
        sc.streams.write_csv(str(csv_path))
        weight = sc.streams.baseline_weight
        scheduled = seed % 2 == 0
        cfg = tmp / f"{sev}-{seed}.toml"
        _config_toml(cfg, weight, scheduled)
        lines = _capleak_replay(csv_path, ["--config", str(cfg)])
        if not scheduled:
            lines += _capleak_replay(csv_path, ["--baseline-weight", f"{weight:.3f}"])
        (out / f"replay-{sev}-{seed}.jsonl").write_text("\n".join(lines) + "\n")
        # the evaluation's path: ticks once a minute, dose events
        config = Config(bed=BedConfig("g", "g", "g"))
        cores: list[Core] = []

        def make(c: Config, cores: list[Core] = cores) -> Core:
            cores.append(Core(c))
            return cores[-1]

        pairs = replay_core(sc, make, config)
        lines = [_json({"t": t, **output_dict(o)}) for t, o in pairs]
        core = cores[0]
        end = sc.streams.start + days * 86400.0
        lines += [_json(output_dict(o)) for o in core.flush()]
        for now in (end - 3600.0, end, end + 5 * 3600.0):
            lines += [_json(output_dict(o)) for o in core.tick(now)]
            lines.append(_json(_state(core, now)))
        (out / f"eval-{sev}-{seed}.jsonl").write_text("\n".join(lines) + "\n")
        print(f"  {sev}:{seed} done", flush=True)


def _fuzz_events(seed: int) -> Iterator[tuple[str, Any]]:
    """A random stream with every odd case in it."""
    rng = random.Random(seed)
    t = 1_780_000_000.0
    flag_names = sorted(FLAGS)
    spo2 = 96.0
    sbp = 120.0
    weight = 70.0
    for _ in range(40_000):
        r = rng.random()
        t += rng.choice((0.0, 1.0, 1.0, 1.0, 2.0, 5.0, 60.0, 900.0))
        if r < 0.002:
            yield "dose", t
            continue
        if r < 0.003:
            yield "baseline", (rng.choice(("weight", "sbp", "map", "spo2")), t)
            continue
        if r < 0.01:
            yield "tick", t + rng.uniform(-600.0, 20_000.0)
            continue
        tt = t
        if rng.random() < 0.02:
            tt = t + rng.choice((-1.0, -30.0, -4000.0, 0.0, 86400.0 * 3, -1.0e12))
        flags: tuple[str, ...] = ()
        if rng.random() < 0.05:
            flags = tuple(rng.sample(flag_names, rng.randint(1, 2)))
        source = rng.choice(("spo2", "spo2", "spo2", "ox2"))
        spo2 = min(100.0, max(40.0, spo2 + rng.gauss(0, 1.5) - 0.01 * (spo2 - 95.0)))
        if rng.random() < 0.01:
            spo2 = rng.choice((85.0, 78.0, 45.0, 99.0))
        yield "r", Reading.of("spo2", round(spo2), time=tt, source=source, flags=flags)
        pulse = rng.choice((80.0, 112.0, 138.0)) + rng.gauss(0, 8 if rng.random() < 0.1 else 1)
        yield "r", Reading.of("pulse", round(pulse), time=tt, source=source, flags=flags)
        if rng.random() < 0.003:
            yield "r", Reading.of("pi", 0.0, time=tt, source=source, flags=("sensor_off",))
        if rng.random() < 0.01:
            sbp = min(200.0, max(60.0, sbp + rng.gauss(-0.3, 6.0)))
            if rng.random() < 0.05:
                sbp = rng.choice((70.0, 160.0))
            s = round(sbp)
            d = round(s * 0.62 + rng.gauss(0, 3))
            m = round(d + (s - d) / 3)
            parts = [("sbp", s), ("dbp", d), ("map", m)]
            if rng.random() < 0.2:
                parts = rng.sample(parts, rng.randint(1, 3))
            nflags = flags if rng.random() < 0.3 else ()
            for sig, v in parts:
                yield "r", Reading.of(sig, v, time=tt, source="nibp", flags=nflags)
        if rng.random() < 0.002:
            weight += rng.choice((0.3, 0.5, 2.5, -2.5, 0.1))
            yield "r", Reading.of("weight", round(weight, 1), time=tt, source="scale", flags=flags)


def fuzz(out: Path) -> None:
    for seed in FUZZ_SEEDS:
        patient = PatientConfig(
            baseline_weight_kg=70.0 if seed % 3 == 0 else None,
            dose_start=iso_time(1_780_003_600.0) if seed % 2 == 0 else None,
        )
        core = Core(Config(bed=BedConfig("g", "g", "g"), patient=patient))
        rng = random.Random(1000 + seed)
        lines = []
        for kind, ev in _fuzz_events(seed):
            if kind == "r":
                outs = core.update(ev)
            elif kind == "dose":
                outs = core.dose(ev)
            elif kind == "tick":
                outs = core.tick(ev)
            else:
                signal, t = ev
                b = core.set_baseline(signal, rng.uniform(60.0, 100.0), t)
                lines.append(_json({"type": "baseline", "b": repr(b)}))
                continue
            lines += [_json(output_dict(o)) for o in outs]
        lines += [_json(output_dict(o)) for o in core.flush()]
        lines.append(_json(_state(core, core.now)))
        (out / f"fuzz-{seed}.jsonl").write_text("\n".join(lines) + "\n")


def _mimic_csv(path: Path) -> bool:
    """MIMIC-III s00001 numerics -> replay CSV (PULSE, SpO2 and the NBP cuff cycles).

    The header gives the start (00:31:25.894 on the shifted date 2896-10-10, kept as a
    2026 date here), 1/60 Hz, format 16, ten signals; value = raw / gain, -32768 = none.
    An SpO2 of 0 is the probe off: written as a ``no_sensor`` flagged reading.
    """
    dat = MIMIC / "3975656n.dat"
    if not dat.exists():
        return False
    raw = dat.read_bytes()
    n = len(raw) // 20
    gains = (10, 10, 10, 10, 10, 10, 10, 1, 1, 1)
    start = 1_791_592_285.894  # 2026-10-10T00:31:25.894Z
    with open(path, "w", encoding="utf-8") as f:
        f.write("time,signal,value,flags\n")
        for i in range(n):
            v = struct.unpack_from("<10h", raw, i * 20)
            t = start + 60.0 * i
            pulse, spo2 = v[4], v[6]
            if pulse != -32768:
                f.write(f"{t:.3f},pulse,{pulse / gains[4]:g},\n")
            if spo2 != -32768:
                if spo2 == 0:
                    f.write(f"{t:.3f},spo2,0,no_sensor\n")
                else:
                    f.write(f"{t:.3f},spo2,{spo2 / gains[6]:g},\n")
            if -32768 not in v[7:10]:
                for sig, k in (("sbp", 7), ("dbp", 8), ("map", 9)):
                    f.write(f"{t:.3f},{sig},{v[k]},\n")
    return True


def mimic(out: Path, tmp: Path) -> None:
    csv_path = tmp / "mimic-s00001.csv"
    if not _mimic_csv(csv_path):
        print("  (no MIMIC record: skipped)")
        return
    (out / "mimic-s00001.jsonl").write_text("\n".join(_capleak_replay(csv_path, [])) + "\n")


def record(out: Path, days: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("MIMIC record", flush=True)
        mimic(out, tmp)
        print("random streams", flush=True)
        fuzz(out)
        print(f"virtual-patient stays ({days:g} days)", flush=True)
        stays(out, days, tmp)
    summary(out)
    return 0


def _counts(path: Path) -> tuple[int, int]:
    lines = path.read_text().splitlines()
    return len(lines), sum('"type": "alert"' in line for line in lines)


def summary(out: Path) -> None:
    total = alerts = 0
    for p in sorted(out.glob("*.jsonl")):
        n, a = _counts(p)
        total += n
        alerts += a
    print(f"{out}: {len(list(out.glob('*.jsonl')))} files, {total:,} lines, {alerts:,} alerts")


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.glob("*.jsonl")} | {p.name for p in b.glob("*.jsonl")})
    bad = 0
    total = alerts = 0
    for name in names:
        pa, pb = a / name, b / name
        if not pa.exists() or not pb.exists():
            print(f"{name}: only in {a if pa.exists() else b}")
            bad += 1
            continue
        la, lb = pa.read_text().splitlines(), pb.read_text().splitlines()
        n, k = _counts(pa)
        total += n
        alerts += k
        if la == lb:
            print(f"{name}: identical ({n:,} lines, {k:,} alerts)")
            continue
        bad += 1
        i = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), None)
        if i is None:
            print(f"{name}: DIFFERS in length ({len(la)} vs {len(lb)} lines)")
        else:
            print(f"{name}: DIFFERS at line {i + 1}:\n  - {la[i][:400]}\n  + {lb[i][:400]}")
    verdict = "IDENTICAL" if not bad else f"{bad} FILE(S) DIFFER"
    print(f"{verdict}: {len(names)} files, {total:,} lines, {alerts:,} alerts compared")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run the workload and write OUT/*.jsonl")
    rec.add_argument("out", type=Path)
    rec.add_argument("--days", type=float, default=5.0, help="length of each virtual stay")
    cmp_ = sub.add_parser("compare", help="compare two recordings")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.cmd == "record":
        return record(args.out, args.days)
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
