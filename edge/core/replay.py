"""Replay CSV: read ``time,signal,value[,flags]`` rows and run them through a :class:`Core`.

The file format (issue #4, ``capleak replay``):

- a header naming the columns ``time``, ``signal``, ``value`` and optionally
  ``flags`` (any order);
- ``time``: ISO 8601 with a zone, or epoch seconds;
- ``signal``: a Reading signal (``sbp``, ``dbp``, ``map``, ``spo2``, ``pulse``,
  ``weight``, ``pi``) or ``dose`` (an IL-2 dose given then; the value is ignored);
- ``flags``: ``;``-separated Reading flags (``artifact;low_perfusion``).

Bad rows become :class:`BadRow` values naming the line; the caller reports
them and carries on. :func:`iter_replay` is the reusable loop behind the
command (and behind any publisher that wants the same outputs).

>>> rows = ["time,signal,value,flags",
...         "2026-01-01T00:00:00Z,spo2,97,",
...         "2026-01-01T00:00:01Z,spo2,abc,",
...         "1767225602,dose,,"]
>>> [type(e).__name__ for e in read_replay(rows)]
['Reading', 'BadRow', 'Dose']
>>> next(e for e in read_replay(rows) if isinstance(e, BadRow)).message
"value 'abc' is not a number"
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from edge.core.core import Core
from edge.core.outputs import Output
from edge.vocabulary import FLAGS, SIGNALS, UNIT_OF, Alert, Reading, parse_time

#: The device a replayed reading is attributed to (NIBP parts must share one).
REPLAY_SOURCES = {
    "spo2": "spo2",
    "pulse": "spo2",
    "pi": "spo2",
    "sbp": "nibp",
    "dbp": "nibp",
    "map": "nibp",
    "weight": "scale",
}


@dataclass(frozen=True, slots=True)
class Dose:
    """An IL-2 dose given at ``time`` (a ``dose`` row)."""

    line: int
    time: float


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be used, with the line number and why."""

    line: int
    message: str


_NO_FLAGS: frozenset[str] = frozenset()


def _parse_row(
    text_time: str, signal: str, text_value: str, text_flags: str, line: int
) -> Reading | Dose | BadRow:
    try:
        t = float(text_time)
    except ValueError:
        try:
            t = parse_time(text_time)
        except ValueError as e:
            why = f" ({e})" if "zone" in str(e) else ""
            return BadRow(
                line,
                f"time {text_time.strip()!r} is not ISO 8601 with a zone or epoch seconds{why}",
            )
    if not math.isfinite(t):
        return BadRow(line, f"time {text_time.strip()!r} is not finite")
    signal = signal.strip()
    if signal == "dose":
        return Dose(line, t)
    unit = UNIT_OF.get(signal)
    if unit is None:
        return BadRow(line, f"unknown signal {signal!r}; known: {', '.join(sorted(SIGNALS))}, dose")
    try:
        value = float(text_value)
    except ValueError:
        return BadRow(line, f"value {text_value.strip()!r} is not a number")
    if not math.isfinite(value):
        return BadRow(line, f"value {text_value.strip()!r} is not finite")
    flags = _NO_FLAGS
    if text_flags and not text_flags.isspace():
        names = [f.strip() for f in text_flags.split(";") if f.strip()]
        unknown = [f for f in names if f not in FLAGS]
        if unknown:
            return BadRow(line, f"unknown flag(s) {unknown}; known: {', '.join(sorted(FLAGS))}")
        flags = frozenset(names)
    return Reading(t, signal, value, unit, REPLAY_SOURCES[signal], flags)


def read_replay(lines: Iterable[str]) -> Iterator[Reading | Dose | BadRow]:
    """Parse replay CSV text (an iterable of lines, e.g. an open file)."""
    reader = csv.reader(lines)
    columns: list[str] | None = None
    it = isg = iv = 0
    ifl = -1
    width = 0
    for row in reader:
        if not row or row[0].lstrip().startswith("#") or all(not c.strip() for c in row):
            continue
        line = reader.line_num
        if columns is None:
            names = [c.strip().lower() for c in row]
            header = {"time", "signal", "value"} <= set(names)
            columns = names if header else ["time", "signal", "value", "flags"]
            it, isg, iv = (columns.index(c) for c in ("time", "signal", "value"))
            ifl = columns.index("flags") if "flags" in columns else -1
            width = len(columns)
            if header:
                continue
            yield BadRow(
                line,
                "no header: expected 'time,signal,value[,flags]'; reading columns in that order",
            )
        n = len(row)
        if n > width or n <= max(it, isg):
            yield BadRow(line, f"expected {width} columns ({','.join(columns)}), got {n}")
            continue
        yield _parse_row(
            row[it],
            row[isg],
            row[iv] if iv < n else "",
            row[ifl] if 0 <= ifl < n else "",
            line,
        )


def iter_replay(
    events: Iterable[Reading | Dose | BadRow],
    core: Core,
    *,
    include_all: bool = False,
    trend_interval_s: float = 60.0,
    on_bad: Callable[[BadRow], None] | None = None,
) -> Iterator[Output]:
    """Run parsed rows through ``core``; yield alert events (and with ``include_all``
    dose checks and a trend summary every ``trend_interval_s`` of reading time).

    Readings are used in file order: out-of-order ones are the core's to drop
    and count, as they would be live.
    """
    next_trend = -math.inf
    for ev in events:
        if isinstance(ev, BadRow):
            if on_bad is not None:
                on_bad(ev)
            continue
        outs = core.dose(ev.time) if isinstance(ev, Dose) else core.update(ev)
        for o in outs:
            if include_all or isinstance(o, Alert):
                yield o
        now = core.now  # the latest valid reading time: stale or bad times do not move it
        # no trend before the first valid reading (a file may open with a dose row)
        if include_all and math.isfinite(now) and now >= next_trend:
            yield core.trends(now)
            next_trend = (now // trend_interval_s + 1.0) * trend_interval_s
    for o in core.flush():
        if include_all or isinstance(o, Alert):
            yield o
