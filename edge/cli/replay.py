"""``capleak replay FILE.csv``: run a recorded or hand-made stream through the core.

Input: CSV ``time,signal,value[,flags]`` (see :mod:`edge.core.replay`).
Output: one JSON object per line on stdout for each alert event (``type``
``"alert"``, ``time``, ``code``, ``priority``, ``kind``, ``phase``,
``message``, ``values``); with ``--all`` also ``dose_check`` and periodic
``trend`` objects. Bad rows: a message naming the line on stderr, the row is
skipped and counted, the run goes on. A file with no usable row at all (empty,
a header only, a header without the ``time,signal,value`` columns, every row bad)
is bad input: one line naming the file and the problem, exit 65 (``EX_DATAERR``).
The body is a thin loop over :func:`edge.core.replay.iter_replay` so other outputs
can reuse it.

With ``--publish`` the progress goes to stderr: at once that it is connecting, every
few seconds while it connects, reads and waits for the broker's acknowledgements.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import math
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edge.cli.args import UsageError, bed_path, broker_url, positive_float
from edge.config import BedConfig, Config, load_config, redact_url
from edge.core import Core, output_dict
from edge.core.replay import BadRow, iter_replay, read_replay
from edge.vocabulary import Alert, Reading, parse_time

#: Bad input data (``sysexits.h``): the file holds no usable row.
EX_DATAERR = 65

#: The bed used when no ``--config`` is given: default thresholds and schedule.
DEFAULT_CONFIG = Config(bed=BedConfig(site="replay", unit="replay", bed="replay"))

#: Seconds between progress lines on stderr with ``--publish``.
PROGRESS_EVERY_S = 2.0

_COLUMNS = "time,signal,value[,flags]"


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
        "event; --all adds dose_check and periodic trend objects. A file without a usable "
        "row exits 65.",
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
        type=broker_url,
        help="also publish the readings and alerts to this broker (mqtt://HOST:PORT) through "
        "the outbox, exactly as the live agent would; exits once everything is acknowledged",
    )
    p.add_argument(
        "--bed",
        metavar="SITE/UNIT/BED",
        type=bed_path,
        help="the bed to publish as (required with --publish)",
    )
    p.add_argument(
        "--state-dir",
        help="outbox directory for --publish (default: a fresh temporary directory)",
    )
    p.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds to keep retrying the broker before giving up (--publish; default: "
        "%(default)g)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        metavar="S",
        help="seconds to wait for the broker to acknowledge everything (--publish; default: "
        "%(default)g)",
    )
    p.set_defaults(func=run)


def _publish_config(args: argparse.Namespace, config: Config, state_dir: str) -> Config:
    """The bed config for ``--publish``: ``--bed``, the broker URL and the outbox dir."""
    site, unit, bed = args.bed.split("/")
    return dataclasses.replace(
        config,
        bed=BedConfig(site=site, unit=unit, bed=bed),
        broker=dataclasses.replace(config.broker, url=args.publish),
        storage=dataclasses.replace(config.storage, state_dir=state_dir),
    )


def _with_readings(events: Iterable, seen: list[Reading]) -> Iterator:
    """Pass the rows on, keeping each reading for the vitals (``--publish``)."""
    for ev in events:
        if isinstance(ev, Reading):
            seen.append(ev)
        yield ev


def _is_time(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        pass
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def _first_row_problem(lines: list[str]) -> str | None:
    """Why the opening ``lines`` of a replay file hold no usable row (None: they may).

    ``lines`` are the file's lines up to and including the first one that is not blank
    and not a ``#`` comment, and the one after it (if any).
    """
    rows = [r for r in csv.reader(lines) if r and any(c.strip() for c in r)]
    rows = [r for r in rows if not r[0].lstrip().startswith("#")]
    if not rows:
        return f"empty: no header and no rows (expected a header {_COLUMNS})"
    names = [c.strip().lower() for c in rows[0]]
    if {"time", "signal", "value"} <= set(names):
        return None if len(rows) > 1 else "a header and no rows"
    if _is_time(rows[0][0]):
        return None  # no header, data in the default column order: read_replay says so
    return f"the header {','.join(rows[0])!r} lacks the columns {_COLUMNS}"


def _opening(stream: Iterable[str]) -> tuple[list[str], Iterator[str]]:
    """The opening lines of ``stream`` (see :func:`_first_row_problem`) and the rest."""
    it = iter(stream)
    opening: list[str] = []
    content = 0
    for line in it:
        opening.append(line)
        if line.strip() and not line.lstrip().startswith("#"):
            content += 1
            if content == 2:
                break
    return opening, it


class _Progress:
    """What ``--publish`` is doing, said on stderr at once and every few seconds."""

    def __init__(self, url: str, bed: str, state_dir: str, connect_timeout: float) -> None:
        self.url = redact_url(url)
        self.bed = bed
        self.db = Path(state_dir) / "outbox.sqlite3"
        self.connect_timeout = connect_timeout
        self.started = time.monotonic()
        self.connected = False
        self.rows = 0
        self.read_all = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replay-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self.say(
            f"connecting to {self.url} as {self.bed} (retrying for up to "
            f"{self.connect_timeout:g} s, --connect-timeout)"
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def say(text: str) -> None:
        print(f"capleak replay: {text}", file=sys.stderr, flush=True)

    def on_connected(self) -> None:
        self.connected = True
        self.say(f"connected to {self.url}; publishing")

    def _waiting(self) -> str:
        """Messages in the outbox waiting for the broker's acknowledgement."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as db:
                n = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error:
            return "?"
        return str(n)

    def _run(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            waited = time.monotonic() - self.started
            if not self.connected:
                self.say(f"still connecting to {self.url} ({waited:.0f} s), retrying")
            elif not self.read_all:
                self.say(f"{self.rows} rows read, {self._waiting()} messages not yet acknowledged")
            else:
                self.say(
                    f"all {self.rows} rows read; waiting for the broker to acknowledge "
                    f"{self._waiting()} messages"
                )


class _ConnectTimeout(Exception):
    """``--connect-timeout`` ran out before the broker accepted the connection."""


def run(args: argparse.Namespace) -> int:
    if args.bed and not args.publish:
        raise UsageError("--bed only makes sense with --publish")
    if args.publish and not args.bed:
        raise UsageError("--publish needs --bed SITE/UNIT/BED (the bed to publish as)")
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
    used = 0

    def report(row: BadRow) -> None:
        if row.message.startswith("no header"):  # a note: the row itself is still read
            print(f"capleak replay: {args.file} line {row.line}: {row.message}", file=sys.stderr)
            return
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
    progress: _Progress | None = None

    def outputs() -> Iterator:
        if progress is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)  # pulled: the broker is connected
            progress.on_connected()
        rows: Iterable[Any] = read_replay(itertools.chain(opening, rest))
        if publish_config is not None:
            rows = _with_readings(rows, readings)
        for output in iter_replay(
            _counted(rows),
            core,
            include_all=args.all or publish_config is not None,
            trend_interval_s=config.publish.trends_interval_s,
            on_bad=report,
        ):
            yield from readings
            readings.clear()
            if not math.isfinite(output.time):
                continue  # a trend before the first reading (a dose first): no time yet
            if args.all or isinstance(output, Alert):
                sys.stdout.write(json.dumps(output_dict(output)) + "\n")
            yield output
        yield from readings
        if progress is not None:
            progress.read_all = True

    def _counted(rows: Iterable[Any]) -> Iterator[Any]:
        nonlocal used
        for row in rows:
            if not isinstance(row, BadRow):
                used += 1
            if progress is not None:
                progress.rows += 1
            yield row

    try:
        with stream:
            opening, rest = _opening(stream)
            problem = _first_row_problem(opening)
            if problem is not None:
                print(f"capleak replay: {args.file}: {problem}", file=sys.stderr)
                return EX_DATAERR
            if publish_config is None:
                for _ in outputs():
                    pass
            else:
                from edge.agent.dispatch import publish_outputs

                progress = _Progress(args.publish, args.bed, state_dir or "", args.connect_timeout)

                def give_up(*_: object) -> None:
                    raise _ConnectTimeout

                previous = signal.signal(signal.SIGALRM, give_up)
                signal.setitimer(signal.ITIMER_REAL, args.connect_timeout)
                try:
                    with progress:
                        result = publish_outputs(publish_config, outputs(), timeout=args.timeout)
                except _ConnectTimeout:
                    print(
                        f"capleak replay: no connection to {redact_url(args.publish)} within "
                        f"{args.connect_timeout:g} s (--connect-timeout); nothing published",
                        file=sys.stderr,
                    )
                    return 1
                except ConnectionError as e:
                    print(f"capleak replay: {e}", file=sys.stderr)
                    return 1
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, previous)
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
    if not used:
        print(
            f"capleak replay: {args.file}: no usable row ({len(bad)} bad row(s) skipped)",
            file=sys.stderr,
        )
        return EX_DATAERR
    if bad:
        print(f"capleak replay: {len(bad)} bad row(s) skipped", file=sys.stderr)
    return 0
