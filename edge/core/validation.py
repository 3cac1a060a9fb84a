"""Validation: plausibility ranges, device flags, and NIBP cycles (SBP > MAP > DBP).

The first stage of the core (issue #4, "Pipeline" 1). A reading that fails
here is dropped and counted by reason; nothing downstream ever sees it.

- Plausibility ranges are physiological outer bounds, not alarm limits:
  SpO2 below 50 % is unusable pulse oximetry (pobm/PhysioZoo cleaning range
  50-100, ``shared/docs/signal-processing.md``, "SpO2 artifact rules").
- Device flags that say the value cannot be trusted (sensor off, no sensor,
  artifact, pulse search, low perfusion, low quality, unstable, overload) drop
  the reading (``signal-processing.md``: "Drop values with device flags").
- NIBP arrives as up to three readings (SBP, MAP, DBP), with one time stamp or
  with times a little apart, in any order. Parts within a window are grouped
  into an :class:`NibpCycle` (:class:`NibpAssembler`); a cycle must satisfy
  SBP > MAP > DBP. A missing MAP is derived as ``DBP + (SBP - DBP) / 3`` and
  flagged ``derived``.

>>> a = NibpAssembler()
>>> a.add(Reading.of("sbp", 120, time=0.0, source="nibp"))
>>> a.add(Reading.of("dbp", 75, time=0.0, source="nibp"))
>>> cycle = a.flush()
>>> cycle.map, cycle.map_derived
(90.0, True)
>>> [r.flags for r in cycle.readings() if r.signal == "map"]
[frozenset({'derived'})]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from edge.vocabulary import Flag, Reading

#: Outer plausibility bounds per signal (inclusive).
PLAUSIBLE: Mapping[str, tuple[float, float]] = {
    "sbp": (40.0, 300.0),
    "dbp": (15.0, 200.0),
    "map": (20.0, 250.0),
    "spo2": (50.0, 100.0),
    "pulse": (20.0, 300.0),
    "weight": (2.0, 400.0),
    "pi": (0.0, 30.0),
}

#: Flags that make a reading untrustworthy. ``derived`` is informational.
FAULT_FLAGS: frozenset[str] = frozenset(
    {
        Flag.ARTIFACT,
        Flag.SENSOR_OFF,
        Flag.NO_SENSOR,
        Flag.LOW_PERFUSION,
        Flag.SEARCHING,
        Flag.LOW_QUALITY,
        Flag.UNSTABLE,
        Flag.OVERLOAD,
    }
)

#: Flags meaning "no sensor on the patient" (for the ``sensor_off`` alert).
SENSOR_OFF_FLAGS: frozenset[str] = frozenset({Flag.SENSOR_OFF, Flag.NO_SENSOR})

NIBP_SIGNALS: frozenset[str] = frozenset({"sbp", "dbp", "map"})


def derive_map(sbp: float, dbp: float) -> float:
    """Mean arterial pressure from systolic and diastolic: ``DBP + (SBP - DBP) / 3``.

    >>> derive_map(120.0, 75.0)
    90.0
    """
    return dbp + (sbp - dbp) / 3.0


def flag_reason(signal: str, flags: frozenset[str]) -> str | None:
    """Why a reading of ``signal`` with ``flags`` is unusable by its flags (``flagged``,
    weight ``unstable``), or None."""
    if flags and not flags.isdisjoint(FAULT_FLAGS):
        if signal == "weight" and Flag.UNSTABLE in flags:
            return "unstable"
        return "flagged"
    return None


def fault_reason(reading: Reading) -> str | None:
    """Why a single reading is unusable (``flagged``/``unstable``/``implausible``), or None."""
    reason = flag_reason(reading.signal, reading.flags)
    if reason is not None:
        return reason
    lo, hi = PLAUSIBLE[reading.signal]
    if not lo <= reading.value <= hi:
        return "implausible"
    return None


@dataclass(frozen=True, slots=True)
class NibpCycle:
    """One NIBP measurement: SBP, MAP, DBP at one time (any may be None if not sent)."""

    time: float
    source: str
    sbp: float | None
    map: float | None
    dbp: float | None
    map_derived: bool = False

    def readings(self) -> tuple[Reading, ...]:
        """The cycle as validated readings; a derived MAP carries the ``derived`` flag."""
        out = []
        for signal, value in (("sbp", self.sbp), ("map", self.map), ("dbp", self.dbp)):
            if value is not None:
                flags = (Flag.DERIVED.value,) if signal == "map" and self.map_derived else ()
                out.append(
                    Reading.of(signal, value, time=self.time, source=self.source, flags=flags)
                )
        return tuple(out)

    def problem(self) -> str | None:
        """``None`` when the cycle is usable, else a rejection reason."""
        sbp, mean, dbp = self.sbp, self.map, self.dbp
        if sbp is None and mean is None:
            return "incomplete"
        if sbp is not None and dbp is not None and not sbp > dbp:
            return "order"
        if mean is not None and (
            (sbp is not None and not sbp > mean) or (dbp is not None and not mean > dbp)
        ):
            return "order"
        return None


class NibpAssembler:
    """Groups the parts of one NIBP measurement into an :class:`NibpCycle`, by proximity.

    Charting systems and HL7 feeds send SBP, MAP and DBP as separate readings,
    with times a few ms (or s) apart, in any order, sometimes without MAP (issue
    12). Parts from one source within ``window_s`` of the first part received
    (less than ``window_s`` after the first) form one cycle; the cycle's time is its
    earliest part's. The caller closes
    the cycle (:meth:`flush`) when all three parts are in, when a part that does
    not :meth:`belongs` arrives, or once the time passes :attr:`deadline`. A part
    that arrives after its cycle was closed is :meth:`late` and never starts a
    cycle of its own (a late part never splits a cycle). Flagged or implausible
    parts spoil the whole cycle: :attr:`spoiled` holds the reason, and the cycle
    is returned for counting.

    >>> a = NibpAssembler(window_s=60.0)
    >>> for sig, v, t in (("sbp", 118, 900.000), ("map", 88, 900.001), ("dbp", 70, 900.002)):
    ...     r = Reading.of(sig, v, time=t, source="nibp")
    ...     assert a.time is None or a.belongs(r)
    ...     a.add(r)
    >>> a.complete, a.flush()
    (True, NibpCycle(time=900.0, source='nibp', sbp=118.0, map=88.0, dbp=70.0, map_derived=False))
    >>> a.late(Reading.of("dbp", 70, time=900.002, source="nibp"))  # a repeated row
    'duplicate'
    >>> a.add(Reading.of("sbp", 117, time=1800.0, source="nibp"))
    >>> a.add(Reading.of("dbp", 69, time=1800.0, source="nibp"))
    >>> a.flush().map_derived, a.late(Reading.of("map", 85, time=1800.5, source="nibp"))
    (True, 'late_part')
    >>> a.add(Reading.of("sbp", 116, time=2700.0, source="nibp"), now=2900.0)  # charted late
    >>> a.deadline                       # open for window_s from its arrival, not its stamp
    2960.0
    """

    __slots__ = (
        "_closed",
        "_dbp",
        "_map",
        "_sbp",
        "first",
        "last",
        "opened",
        "source",
        "spoiled",
        "time",
        "window_s",
    )

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.time: float | None = None  # earliest part of the open cycle (its time)
        self.first = math.inf  # time of the first part received (the window opens here)
        self.last = -math.inf  # latest part of the open cycle
        self.opened = math.inf  # the caller's clock when the open cycle's first part came
        self.source = ""
        self._sbp: float | None = None
        self._map: float | None = None
        self._dbp: float | None = None
        self.spoiled: str | None = None
        # the cycle closed last: (source, first part's time, its parts' values by signal)
        self._closed: tuple[str, float, dict[str, float]] = ("", math.nan, {})

    @property
    def open(self) -> bool:
        return self.time is not None

    @property
    def complete(self) -> bool:
        return self._sbp is not None and self._map is not None and self._dbp is not None

    @property
    def deadline(self) -> float:
        """The open cycle closes once the time is past this (``inf`` when none is open)."""
        return self.opened + self.window_s if self.time is not None else math.inf

    def _near(self, reading: Reading, source: str, first: float) -> bool:
        t = reading.time
        return t is not None and reading.source == source and abs(t - first) < self.window_s

    def belongs(self, reading: Reading) -> bool:
        """Whether ``reading`` is part of the open cycle (same source, in the window, slot free)."""
        if self.time is None or not self._near(reading, self.source, self.first):
            return False
        return getattr(self, "_" + reading.signal) is None

    def repeated(self, reading: Reading) -> bool:
        """Whether ``reading`` repeats a part the open cycle already has (a duplicated row)."""
        if self.time is None or not self._near(reading, self.source, self.first):
            return False
        return getattr(self, "_" + reading.signal) is not None

    def late(self, reading: Reading) -> str | None:
        """Why ``reading`` belongs to the cycle closed last (it arrived after the close):
        ``late_part`` (a part it did not have), ``duplicate`` (a repeated row), or None."""
        source, first, had = self._closed
        if not self._near(reading, source, first):
            return None
        value = had.get(reading.signal)
        if value is None:
            return "late_part"
        return "duplicate" if value == reading.value else None

    def add(self, reading: Reading, now: float = -math.inf) -> None:
        """Add to the open cycle (the caller flushes first if it does not :meth:`belongs`).

        ``now`` is the caller's clock when the part arrives: a cycle charted late (its
        stamps minutes behind the other devices' readings) stays open ``window_s`` from
        its arrival, so its other parts, a few ms behind, still join it.
        """
        t = reading.time
        assert t is not None
        if self.time is None:
            self.time = self.first = self.last = t
            self.opened = max(t, now)
            self.source = reading.source
        else:
            self.time = min(self.time, t)
            self.last = max(self.last, t)
        reason = fault_reason(reading)
        if reason is not None and self.spoiled is None:
            self.spoiled = reason
        setattr(self, "_" + reading.signal, reading.value)

    def flush(self) -> NibpCycle | None:
        """Close the open cycle; derives a missing MAP. ``None`` when nothing is open."""
        if self.time is None:
            return None
        sbp, mean, dbp = self._sbp, self._map, self._dbp
        derived = False
        if mean is None and sbp is not None and dbp is not None:
            mean = derive_map(sbp, dbp)
            derived = True
        cycle = NibpCycle(self.time, self.source, sbp, mean, dbp, derived)
        had = {n: v for n, v in (("sbp", sbp), ("map", self._map), ("dbp", dbp)) if v is not None}
        self._closed = (self.source, self.first, had)
        self.time = None
        self.first = math.inf
        self._sbp = self._map = self._dbp = None
        return cycle

    def take_spoiled(self) -> str | None:
        reason, self.spoiled = self.spoiled, None
        return reason


#: Consecutive late readings (NIBP: parts) after which a signal follows a timeline
#: that moved back: a minute of 1 Hz SpO2/pulse, 3 NIBP cycles, 3 weights.
STALE_RESET: Mapping[str, int] = {"spo2": 60, "pulse": 60, "pi": 60, "nibp": 9, "weight": 3}


class Timeline:
    """Per signal, readings must move forward in time; a run of late ones resets it.

    :attr:`last` holds the time of the last used reading per key (``nibp`` for
    the cycle). The caller compares against it and asks :meth:`late` about a
    reading that is not newer: ``duplicate`` (same time) and ``stale`` are
    dropped; after :data:`STALE_RESET` consecutive late ones the timeline itself
    moved back (a device clock corrected after a glitch into the future), so the
    answer is ``timeline_reset`` and the signal follows the new timeline. The
    caller clears :attr:`runs` for a key when a reading is on time again.

    >>> tl = Timeline()
    >>> tl.last["weight"] = 100.0
    >>> [tl.late("weight", t) for t in (100.0, 50.0, 60.0, 70.0)]
    ['duplicate', 'stale', 'stale', 'timeline_reset']
    >>> tl.last["weight"]
    -inf
    """

    __slots__ = ("last", "reset_after", "runs")

    def __init__(self, reset_after: Mapping[str, int] = STALE_RESET) -> None:
        self.reset_after = reset_after
        self.last: dict[str, float] = dict.fromkeys(reset_after, -math.inf)
        self.runs: dict[str, int] = {}

    def late(self, key: str, t: float) -> str:
        """Why a late reading at ``t`` is dropped, or ``timeline_reset`` to use it."""
        if t == self.last[key]:
            return "duplicate"
        run = self.runs.get(key, 0) + 1
        if run < self.reset_after[key]:
            self.runs[key] = run
            return "stale"
        self.runs[key] = 0
        self.last[key] = -math.inf
        return "timeline_reset"
