"""Scenarios: what a simulated device measures, as an iterator of Readings in time order.

``load_scenario(spec, start)`` understands four kinds of ``spec``:

1. **Builtins**: ``stable`` (a well patient) and ``leak`` (a capillary leak
   developing over two days: SBP 120 -> 85, SpO2 97 -> 90, pulse up, weight
   +8 kg over five days). See :data:`BUILTINS`.
2. **Constant / ramp descriptions**, comma-separated items::

       spo2=97,pulse=72,sbp=120->85@48h,weight=70->80@5d
       stable,sbp=120->80@6h/5m          (a builtin, then overrides)

   ``SIGNAL=VALUE`` holds a value; ``SIGNAL=A->B@DURATION`` ramps linearly
   from A at ``start`` to B at ``start + DURATION``, then holds B; an optional
   ``/PERIOD`` sets how often the signal is measured (defaults: SpO2, pulse,
   PI every second; NIBP every 15 min; weight every hour: :data:`PERIODS`).
   Durations are a number with ``s``, ``m``, ``h`` or ``d`` (plain = seconds).
   ``SIGNAL+=FLAG`` attaches a flag to every reading of that signal
   (``spo2+=artifact``). Later items override earlier ones for the same signal.
   SBP, MAP and DBP with the same period share time stamps, so an NIBP device
   sees them as one measurement.
3. **A replay CSV** path (``*.csv``) in the ``capleak replay`` format
   (``edge.core.replay``): header ``time,signal,value[,flags]`` (any order),
   ``time`` ISO 8601 with a zone or epoch seconds, ``flags`` separated by
   ``;`` (``|`` and spaces accepted too), ``dose`` rows skipped. Rows must be
   in time order. Times are shifted so the first row falls on ``start``
   (``shift=False`` keeps them).
4. **Plug-ins** ``NAME:ARGS``: entry points of the group
   :data:`PLUGIN_GROUP` (``capleak.scenarios``), declared by whichever package
   provides them, so the drivers name no module of the app. capleak's own
   ``pyproject.toml`` registers the virtual patient
   (``patient = "edge.lab.patient.scenario:scenario"``), so
   ``capleak simulate --scenario patient:moderate:42`` works with every device.
   The entry point is a function called as
   ``function(args: str, start: float, source: str) -> Iterator[Reading]`` that
   yields Readings with ``time`` set, in time order.

Scenario readings may carry flags (artifact, sensor_off, ...): device
simulators encode them the way the real device would.

>>> from itertools import islice
>>> [(r.time, r.signal, r.value) for r in islice(load_scenario("spo2=97,sbp=120->100@2s/1s", 0.0), 5)]
[(0.0, 'sbp', 120.0), (0.0, 'spo2', 97.0), (1.0, 'sbp', 110.0), (1.0, 'spo2', 97.0), (2.0, 'sbp', 100.0)]
"""

from __future__ import annotations

import csv
import heapq
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from edge.vocabulary import FLAGS, SIGNALS, Reading, parse_time

#: Entry-point group of plug-in scenario kinds (see the module docstring).
PLUGIN_GROUP = "capleak.scenarios"


#: Default measurement period per signal, seconds.
PERIODS: Mapping[str, float] = {
    "spo2": 1.0,
    "pulse": 1.0,
    "pi": 1.0,
    "sbp": 900.0,
    "map": 900.0,
    "dbp": 900.0,
    "weight": 3600.0,
}

BUILTINS: Mapping[str, str] = {
    "stable": "spo2=97,pulse=72,pi=4.5,sbp=122,map=92,dbp=76,weight=72",
    "leak": "spo2=97->90@48h,pulse=72->118@48h,pi=4.5->1.5@48h,"
    "sbp=122->85@48h,map=92->62@48h,dbp=76->50@48h,weight=72->80@5d",
}

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_NUMBER = r"[+-]?\d+(?:\.\d+)?"
_ITEM = re.compile(
    rf"^(?P<signal>[a-z0-9]+)=(?P<a>{_NUMBER})(?:->(?P<b>{_NUMBER})@(?P<over>[0-9.]+[smhd]?))?"
    r"(?:/(?P<period>[0-9.]+[smhd]?))?$"
)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``48h``, ``5d`` -> seconds.

    >>> parse_duration("15m"), parse_duration("2.5")
    (900.0, 2.5)
    """
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(f"bad duration {text!r}: use a number with s, m, h or d (e.g. 15m)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


@dataclass(frozen=True, slots=True)
class Track:
    """One signal held constant or ramped, measured every ``period`` seconds."""

    signal: str
    a: float
    b: float
    over: float
    period: float
    flags: frozenset[str] = frozenset()

    def value(self, elapsed: float) -> float:
        if self.over <= 0 or elapsed >= self.over:
            return self.b
        return self.a + (self.b - self.a) * max(0.0, elapsed) / self.over

    def readings(self, start: float, source: str) -> Iterator[Reading]:
        for k in itertools.count():
            t = start + k * self.period
            yield Reading.of(
                self.signal,
                round(self.value(t - start), 6),
                time=t,
                source=source,
                flags=self.flags,
            )


def parse_tracks(spec: str) -> dict[str, Track]:
    """A constant/ramp description -> one :class:`Track` per signal."""
    tracks: dict[str, Track] = {}
    flags: dict[str, set[str]] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        if item in BUILTINS:
            tracks.update(parse_tracks(BUILTINS[item]))
            continue
        if "+=" in item:
            signal, _, flag = item.partition("+=")
            _check_signal(signal, item)
            if flag not in FLAGS:
                raise ValueError(f"{item!r}: unknown flag {flag!r}; known: {sorted(FLAGS)}")
            flags.setdefault(signal, set()).add(flag)
            continue
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(
                f"bad scenario item {item!r}: use SIGNAL=VALUE, SIGNAL=A->B@DURATION, "
                f"optionally /PERIOD (e.g. sbp=120->85@48h/15m), or a builtin "
                f"({', '.join(BUILTINS)})"
            )
        signal = m["signal"]
        _check_signal(signal, item)
        a = float(m["a"])
        b = float(m["b"]) if m["b"] is not None else a
        over = parse_duration(m["over"]) if m["over"] else 0.0
        period = parse_duration(m["period"]) if m["period"] else PERIODS[signal]
        if period <= 0:
            raise ValueError(f"{item!r}: the period must be positive")
        tracks[signal] = Track(signal, a, b, over, period)
    for signal, fs in flags.items():
        if signal not in tracks:
            raise ValueError(f"flags for {signal!r} but no value for it")
        t = tracks[signal]
        tracks[signal] = Track(t.signal, t.a, t.b, t.over, t.period, frozenset(fs))
    if not tracks:
        raise ValueError(f"empty scenario {spec!r}")
    return tracks


def _check_signal(signal: str, item: str) -> None:
    if signal not in SIGNALS:
        raise ValueError(f"{item!r}: unknown signal {signal!r}; known: {sorted(SIGNALS)}")


def read_replay_csv(path: str | Path, source: str = "replay") -> Iterator[Reading]:
    """Readings from a replay CSV (the ``capleak replay`` format, ``edge.core.replay``).

    Header naming ``time``, ``signal``, ``value`` and optionally ``flags`` in any
    order; ``dose`` rows are skipped (no device measures a dose). Rows are
    checked one by one; a bad row raises ValueError naming its line.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = [h.strip().lower() for h in next(rows, [])]
        if not {"time", "signal", "value"} <= set(header):
            raise ValueError(f"{path}: header must name time,signal,value[,flags], got {header}")
        it, isig, ival = header.index("time"), header.index("signal"), header.index("value")
        ifl = header.index("flags") if "flags" in header else -1
        last = float("-inf")
        for lineno, row in enumerate(rows, start=2):
            if not row or row[0].startswith("#"):
                continue
            try:
                t = parse_time(row[it])
                if row[isig].strip() == "dose":
                    continue
                text_flags = row[ifl] if 0 <= ifl < len(row) else ""
                flags = [x for x in re.split(r"[;| ]+", text_flags.strip()) if x]
                reading = Reading.of(
                    row[isig].strip(), float(row[ival]), time=t, source=source, flags=flags
                )
            except (ValueError, IndexError) as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
            if t < last:
                raise ValueError(f"{path}:{lineno}: rows must be in time order")
            last = t
            yield reading


def load_scenario(
    spec: str,
    start: float,
    *,
    source: str = "scenario",
    shift: bool = True,
    until: float | None = None,
    signals: Iterable[str] | None = None,
) -> Iterator[Reading]:
    """The readings ``spec`` describes from ``start`` on, in time order.

    Constant/ramp scenarios never end; ``until`` (epoch s) cuts any scenario.
    ``signals`` keeps only those signals (a device simulator passes the ones
    its device measures, so a sped-up NIBP simulator does not generate 1 Hz
    SpO2 it would throw away). Errors in ``spec`` raise ``ValueError`` with a
    message for a person.
    """
    keep = None if signals is None else frozenset(signals)
    it = _load(spec.strip(), start, source, shift, keep)
    if keep is not None:
        it = (r for r in it if r.signal in keep)
    if until is not None:
        it = itertools.takewhile(lambda r: r.time is not None and r.time <= until, it)
    return it


def _load(
    spec: str, start: float, source: str, shift: bool, keep: frozenset[str] | None
) -> Iterator[Reading]:
    name, sep, args = spec.partition(":")
    if sep and name.isidentifier():
        for ep in entry_points(group=PLUGIN_GROUP, name=name):
            return iter(ep.load()(args, start, source))
    if spec.lower().endswith(".csv") or (Path(spec).is_file() and "=" not in spec):
        rows = read_replay_csv(spec, source)
        if not shift:
            return rows
        return _shifted(rows, start)
    tracks = parse_tracks(spec)
    if keep is not None:
        tracks = {k: v for k, v in tracks.items() if k in keep}
        if not tracks:
            raise ValueError(
                f"scenario {spec!r} has none of the signals this device measures "
                f"({', '.join(sorted(keep))})"
            )
    return heapq.merge(
        *(t.readings(start, source) for t in tracks.values()),
        key=lambda r: (r.time, r.signal),
    )


def _shifted(rows: Iterator[Reading], start: float) -> Iterator[Reading]:
    import dataclasses

    offset: float | None = None
    for r in rows:
        assert r.time is not None
        if offset is None:
            offset = start - r.time
        yield dataclasses.replace(r, time=r.time + offset)
