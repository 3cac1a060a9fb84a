"""``capleak evaluate``: score capleak against a bedside monitor and NEWS2 on virtual patients.

``capleak evaluate --patients N --seed S [--days D] [--out DIR] [--jobs J] [--config FILE]
[--artifacts a|b|c|d|both|all]`` generates a cohort (``edge.lab.patient``), replays every patient
through the real core and both comparators, and writes ``evaluation.md``,
``evaluation.json`` and (with matplotlib) PNG plots to ``--out``. Progress lines go to
stderr. ``--artifacts`` picks the artifact model: ``a`` (the one the core was tuned on),
``b`` (written independently; the core was tuned on A and B), ``c`` (written
independently of both and of the core; its seed 4 was tuned on), ``d`` (written
independently of A, B, C and the core; its seed 6 was tuned on), ``both`` (default: A and
B) or ``all`` (A, B, C and D): the same patients under each, and a side-by-side table first in
``evaluation.md``.

``capleak evaluate --export PREFIX [--severity CLASS] [--seed S] [--index I] [--days D]``
writes one virtual patient as ``PREFIX.csv`` (the ``capleak replay`` format) and
``PREFIX.truth.json`` (ground truth), and evaluates nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from edge.config import load_config

#: ``--artifacts`` values that name several artifact models, evaluated side by side.
MODEL_SETS = {"both": ["a", "b"], "all": ["a", "b", "c", "d"]}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate detection quality on virtual HDIL-2 patients",
        description="Generate virtual HDIL-2 patients, replay them through the capleak core, "
        "a threshold bedside monitor and NEWS2, and report sensitivity, lead time and false "
        "alerts. With --export, write one virtual patient as a replay CSV plus ground truth.",
    )
    p.add_argument("--patients", type=int, default=20, help="cohort size (default 20)")
    p.add_argument("--seed", type=int, default=1, help="cohort seed (default 1)")
    p.add_argument("--days", type=float, default=5.0, help="days per patient (default 5)")
    p.add_argument("--out", default="evaluation-out", help="report directory")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument("--config", help="capleak TOML config whose thresholds the core uses")
    p.add_argument(
        "--detector",
        default="edge.core:Core",
        help="detector factory as module:attr, taking a Config (default: the capleak core); "
        "'none' runs the comparators only",
    )
    p.add_argument(
        "--artifacts",
        choices=("a", "b", "c", "d", "both", "all"),
        default="both",
        help="artifact model: a, b (the core was tuned on both), c (its seed 4 tuned on), d "
        "(its seed 6 tuned on), both "
        "(a and b side by side, the default) or all (a, b, c and d); with --export, both and "
        "all mean a",
    )
    p.add_argument("--plot-patient", type=int, default=None, help="patient index to plot")
    p.add_argument("--export", metavar="PREFIX", help="write PREFIX.csv + PREFIX.truth.json")
    p.add_argument(
        "--severity",
        choices=("none", "mild", "moderate", "severe"),
        help="drawn class of the exported patient (default: drawn from the cohort mix)",
    )
    p.add_argument("--index", type=int, default=0, help="patient index to export (default 0)")
    p.set_defaults(func=run)


def _export(args: argparse.Namespace) -> int:
    from edge.lab.patient import generate

    model = MODEL_SETS.get(args.artifacts, [args.artifacts])[0]
    sc = generate(args.severity, seed=args.seed, index=args.index, days=args.days, artifacts=model)
    csv_path, truth_path = f"{args.export}.csv", f"{args.export}.truth.json"
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    rows = sc.export(csv_path, truth_path)
    t = sc.truth
    print(
        f"wrote {csv_path} ({rows} rows) and {truth_path}: outcome {t['severity']} "
        f"(drawn {t['drawn_severity']}), first hold criterion "
        f"{t['first_hold_criterion'] or 'never met'}; baseline weight "
        f"{sc.streams.baseline_weight} kg (capleak replay --baseline-weight)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.days < 0.05 or args.days > 30:
        print("capleak evaluate: --days must be between 0.05 and 30", file=sys.stderr)
        return 2
    if args.export:
        return _export(args)
    if args.patients < 1:
        print("capleak evaluate: --patients must be at least 1", file=sys.stderr)
        return 2
    from edge.lab.evaluation import report
    from edge.lab.evaluation.runner import EvaluationError, default_config, run_cohort

    config = load_config(args.config) if args.config else default_config()
    detector = None if args.detector == "none" else args.detector
    every = max(1, args.patients // 20)
    models = MODEL_SETS.get(args.artifacts, [args.artifacts])
    label = ""

    def progress(done: int, total: int, elapsed: float) -> None:
        if done % every == 0 or done == total:
            rate = elapsed / done
            print(
                f"evaluate{label}: {done}/{total} patients, {elapsed:.0f} s elapsed, "
                f"~{rate * (total - done):.0f} s to go",
                file=sys.stderr,
                flush=True,
            )

    all_runs = {}
    walls = {}
    for model in models:
        label = f" (artifact model {model.upper()})" if len(models) > 1 else ""
        t0 = time.perf_counter()
        try:
            all_runs[model] = run_cohort(
                args.patients,
                args.seed,
                days=args.days,
                detector=detector,
                config=config,
                jobs=args.jobs,
                progress=progress,
                artifacts=model,
            )
        except EvaluationError as e:
            print(f"capleak evaluate: {e}", file=sys.stderr)
            return 1
        walls[model] = time.perf_counter() - t0
    cmd = "capleak evaluate " + " ".join(
        shlex.quote(a)
        for a in (
            f"--patients={args.patients}",
            f"--seed={args.seed}",
            f"--days={args.days:g}",
            *([f"--config={args.config}"] if args.config else []),
            *([f"--detector={args.detector}"] if args.detector != "edge.core:Core" else []),
            f"--artifacts={args.artifacts}",
        )
    )
    notes = []
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, args.patients))
    summaries = {}
    for model, runs in all_runs.items():
        meta = {
            "seed": args.seed,
            "days": args.days,
            "detector": detector,
            "artifact_model": model,
            "command": cmd,
            "jobs": jobs,
            "wall_seconds": round(walls[model], 1),
        }
        summaries[model] = report.summarise(runs, meta)
    first = models[0]
    runs = all_runs[first]
    out = Path(args.out)
    if report.have_matplotlib():
        from edge.lab.evaluation import plots
        from edge.lab.patient import generate

        plots.plot_lead_times(summaries[first], out_path(out, "lead_times.png"))
        idx = args.plot_patient
        if idx is None:  # the first moderate/severe patient, else patient 0
            idx = next(
                (r.outcome.index for r in runs if r.outcome.severity in ("moderate", "severe")),
                0,
            )
        idx = min(max(idx, 0), len(runs) - 1)
        sc = generate(None, seed=args.seed, index=idx, days=args.days, artifacts=first)
        plots.plot_patient(sc, runs[idx].outcome.alerts, out_path(out, f"patient_{idx}.png"))
        notes.append(f"Plots (artifact model {first.upper()}): lead_times.png, patient_{idx}.png.")
    else:
        notes.append(
            "Plots skipped: matplotlib (the optional report extra) is not installed in this "
            f"Python. Install it with: {report.install_matplotlib_command()}"
        )
    for s in summaries.values():
        s["notes"] = notes
    if len(summaries) == 1:
        summary = summaries[first]
        text = "\n".join([report.side_by_side(summaries), report.markdown(summary)])
    else:
        summary = report.combine(summaries)
        text = "\n".join([summary["side_by_side"], *map(report.markdown, summaries.values())])
    paths = report.write(summary, out, text)
    sys.stdout.write(text)
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def out_path(out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out / name
