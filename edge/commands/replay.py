"""``capleak replay FILE.csv``: run a recorded or hand-made stream through the core.

Input: CSV ``time,signal,value[,flags]`` (see :mod:`edge.core.replay`).
Output: one JSON object per line on stdout for each alert event (``type``
``"alert"``, ``time``, ``code``, ``priority``, ``kind``, ``phase``,
``message``, ``values``); with ``--all`` also ``dose_check`` and periodic
``trend`` objects. Bad rows: a message naming the line on stderr, the row is
skipped and counted, the run goes on. The body is a thin loop over
:func:`edge.core.replay.iter_replay` so other outputs can reuse it.
"""

from __future__ import annotations

import argparse
import json
import sys

from edge.config import BedConfig, Config, load_config
from edge.core import Core, output_dict
from edge.core.replay import BadRow, iter_replay, read_replay

#: The bed used when no ``--config`` is given: default thresholds and schedule.
DEFAULT_CONFIG = Config(bed=BedConfig(site="replay", unit="replay", bed="replay"))


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 2.0 <= value <= 400.0:
        raise argparse.ArgumentTypeError(f"weight must be 2-400 kg, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run a CSV of readings through the core and print alert events as JSON lines",
        description="Replay a CSV (header time,signal,value[,flags]; signal 'dose' marks an "
        "IL-2 dose) through the signal-processing core. Prints one JSON object per alert "
        "event; --all adds dose_check and periodic trend objects.",
    )
    p.add_argument("file", help="the CSV file ('-' for stdin)")
    p.add_argument("--config", help="bed configuration (TOML); default: built-in defaults")
    p.add_argument(
        "--baseline-weight", type=_positive, metavar="KG", help="pre-treatment weight in kg"
    )
    p.add_argument(
        "--all", action="store_true", help="also print dose_check and periodic trend objects"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else DEFAULT_CONFIG
    core = Core(config)
    if args.baseline_weight is not None:
        core.set_baseline("weight", args.baseline_weight, None)
    bad: list[int] = []

    def report(row: BadRow) -> None:
        bad.append(row.line)
        print(
            f"capleak replay: {args.file} line {row.line}: {row.message}; row skipped",
            file=sys.stderr,
        )

    try:
        stream = (
            sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the with below
        )
    except OSError as e:
        print(f"capleak replay: cannot read {args.file!r}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        with stream:
            for output in iter_replay(
                read_replay(stream),
                core,
                include_all=args.all,
                trend_interval_s=config.publish.trends_interval_s,
                on_bad=report,
            ):
                sys.stdout.write(json.dumps(output_dict(output)) + "\n")
    except UnicodeDecodeError:
        print(f"capleak replay: {args.file!r} is not UTF-8 text", file=sys.stderr)
        return 1
    if bad:
        print(f"capleak replay: {len(bad)} bad row(s) skipped", file=sys.stderr)
    return 0
