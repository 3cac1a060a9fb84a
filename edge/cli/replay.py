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
import dataclasses
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator

from edge.config import BedConfig, Config, ConfigError, load_config
from edge.core import Core, output_dict
from edge.core.replay import BadRow, iter_replay, read_replay
from edge.messaging.mqtt import parse_broker_url
from edge.vocabulary import Alert, Reading

_BED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

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
    p.add_argument(
        "--publish",
        metavar="URL",
        help="also publish the readings and alerts to this broker (mqtt://HOST:PORT) through "
        "the outbox, exactly as the live agent would; exits once everything is acknowledged",
    )
    p.add_argument("--bed", metavar="SITE/UNIT/BED", help="the bed to publish as (with --publish)")
    p.add_argument(
        "--state-dir",
        help="outbox directory for --publish (default: a fresh temporary directory)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker (--publish)"
    )
    p.set_defaults(func=run)


def _publish_config(args: argparse.Namespace, config: Config, state_dir: str) -> Config:
    """The bed config for ``--publish``: ``--bed``, the broker URL and the outbox dir."""
    parts = (args.bed or "").split("/")
    if len(parts) != 3 or not all(_BED_ID.fullmatch(x) for x in parts):
        raise ConfigError("--bed", f"must be SITE/UNIT/BED with --publish, got {args.bed!r}")
    parse_broker_url(args.publish)  # ConfigError naming the URL when it is bad
    return dataclasses.replace(
        config,
        bed=BedConfig(site=parts[0], unit=parts[1], bed=parts[2]),
        broker=dataclasses.replace(config.broker, url=args.publish),
        storage=dataclasses.replace(config.storage, state_dir=state_dir),
    )


def _with_readings(events: Iterable, seen: list[Reading]) -> Iterator:
    """Pass the rows on, keeping each reading for the vitals (``--publish``)."""
    for ev in events:
        if isinstance(ev, Reading):
            seen.append(ev)
        yield ev


def run(args: argparse.Namespace) -> int:
    if args.bed and not args.publish:
        raise ConfigError("--bed", "only makes sense with --publish")
    if args.publish:
        with tempfile.TemporaryDirectory(prefix="capleak-replay-") as tmp:
            return _run(args, args.state_dir or tmp)
    return _run(args, None)


def _run(args: argparse.Namespace, state_dir: str | None) -> int:
    config = load_config(args.config) if args.config else DEFAULT_CONFIG
    publish_config = _publish_config(args, config, state_dir) if state_dir else None
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
    readings: list[Reading] = []

    def outputs() -> Iterator:
        rows = read_replay(stream)
        if publish_config is not None:
            rows = _with_readings(rows, readings)
        for output in iter_replay(
            rows,
            core,
            include_all=args.all or publish_config is not None,
            trend_interval_s=config.publish.trends_interval_s,
            on_bad=report,
        ):
            yield from readings
            readings.clear()
            if args.all or isinstance(output, Alert):
                sys.stdout.write(json.dumps(output_dict(output)) + "\n")
            yield output
        yield from readings

    try:
        with stream:
            if publish_config is None:
                for _ in outputs():
                    pass
            else:
                from edge.agent.dispatch import publish_outputs

                try:
                    result = publish_outputs(publish_config, outputs(), timeout=args.timeout)
                except ConnectionError as e:
                    print(f"capleak replay: {e}", file=sys.stderr)
                    return 1
                print(
                    f"capleak replay: published {result.readings} readings, {result.alerts} "
                    f"alert events, {result.other} other messages to {args.publish} as "
                    f"{args.bed}; " + ("all acknowledged" if result.acknowledged else
                                       "NOT all acknowledged before the timeout"),
                    file=sys.stderr,
                )  # fmt: skip
                if not result.acknowledged:
                    return 1
    except UnicodeDecodeError:
        print(f"capleak replay: {args.file!r} is not UTF-8 text", file=sys.stderr)
        return 1
    if bad:
        print(f"capleak replay: {len(bad)} bad row(s) skipped", file=sys.stderr)
    return 0
