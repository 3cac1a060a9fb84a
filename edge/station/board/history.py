"""Bounded per-bed history for the ward board: vitals in time buckets, alert events, doses.

A bed's vitals arrive up to once a second per signal (SpO2, pulse) and every few
minutes (NIBP, weight). The board keeps ``hours`` of each signal as fixed-width time
buckets (mean, min, max per bucket) in flat ``array('d')`` columns, so memory per bed
is bounded by ``signals x hours x 3600 / bucket_s`` buckets whatever the data rate:
with the defaults (72 h, 300 s buckets) at most 864 buckets of 4 doubles per signal,
27 KiB per signal (twice that before a trim) (``docs/board.md``, "Memory").

>>> s = Series(bucket_s=60, hours=1)
>>> for t, v in [(0, 100), (30, 110), (61, 90)]:
...     _ = s.add(t, v)
>>> s.points(since=0)
[(0.0, 105.0, 100.0, 110.0), (60.0, 90.0, 90.0, 90.0)]
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import Any


class Series:
    """One signal's bucketed history: ``(bucket start, mean, min, max)`` per bucket."""

    __slots__ = ("_hi", "_lo", "_mean", "_n", "_t", "bucket_s", "max_buckets")

    def __init__(self, bucket_s: float, hours: float) -> None:
        if bucket_s <= 0 or hours <= 0:
            raise ValueError("bucket_s and hours must be positive")
        self.bucket_s = float(bucket_s)
        self.max_buckets = max(1, math.ceil(hours * 3600 / bucket_s))
        self._t = array("d")
        self._mean = array("d")
        self._lo = array("d")
        self._hi = array("d")
        self._n = array("l")

    def __len__(self) -> int:
        return len(self._t)

    def add(self, t: float, value: float) -> bool:
        """Add one reading; True when it opened a new bucket (the sparkline changed shape)."""
        if not (math.isfinite(t) and math.isfinite(value)):
            return False
        start = math.floor(t / self.bucket_s) * self.bucket_s
        if self._t and start == self._t[-1]:
            i = len(self._t) - 1
        elif self._t and start < self._t[-1]:
            found = self._find(start)  # a late reading: into its own bucket if still kept
            if found is None:
                return False
            i = found
        else:
            for col, v in ((self._t, start), (self._mean, value), (self._lo, value)):
                col.append(v)
            self._hi.append(value)
            self._n.append(1)
            if len(self._t) > 2 * self.max_buckets:  # trim in chunks: amortised O(1)
                cut = len(self._t) - self.max_buckets
                for col in (self._t, self._mean, self._lo, self._hi):
                    del col[:cut]
                del self._n[:cut]
            return True
        n = self._n[i] + 1
        self._mean[i] += (value - self._mean[i]) / n
        self._lo[i] = min(self._lo[i], value)
        self._hi[i] = max(self._hi[i], value)
        self._n[i] = n
        return False

    def _find(self, start: float) -> int | None:
        lo, hi = 0, len(self._t)
        while lo < hi:  # first bucket >= start
            mid = (lo + hi) // 2
            if self._t[mid] < start:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self._t) and self._t[lo] == start else None

    def points(self, since: float = -math.inf) -> list[tuple[float, float, float, float]]:
        """Buckets starting at or after ``since`` (and within the kept window)."""
        first = max(0, len(self._t) - self.max_buckets)
        return [
            (self._t[i], round(self._mean[i], 2), self._lo[i], self._hi[i])
            for i in range(first, len(self._t))
            if self._t[i] >= since
        ]


class BedHistory:
    """Everything the bed view plots: per-signal series, alert events, dose checks."""

    __slots__ = ("alert_events", "bucket_s", "dose_checks", "hours", "series")

    def __init__(self, bucket_s: float, hours: float, max_events: int) -> None:
        self.bucket_s = bucket_s
        self.hours = hours
        self.series: dict[str, Series] = {}
        self.alert_events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.dose_checks: deque[dict[str, Any]] = deque(maxlen=max_events)

    def add(self, signal: str, t: float, value: float) -> bool:
        s = self.series.get(signal)
        if s is None:
            s = self.series[signal] = Series(self.bucket_s, self.hours)
        return s.add(t, value)

    def to_dict(self, since: float = -math.inf) -> dict[str, Any]:
        return {
            "bucket_s": self.bucket_s,
            "hours": self.hours,
            "vitals": {
                name: [list(p) for p in s.points(since)] for name, s in sorted(self.series.items())
            },
            "alert_events": list(self.alert_events),
            "dose_checks": list(self.dose_checks),
        }
