"""Artifact model B's rows: their encoding, :class:`StreamsB`, and the row collector."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edge.vocabulary import UNIT_OF, Reading

# --- row encoding --------------------------------------------------------------------------
SIGNALS_B = ("spo2", "pulse", "pi", "sbp", "map", "dbp", "weight", "dose")
SIG = {name: i for i, name in enumerate(SIGNALS_B)}
DOSE = SIG["dose"]
FLAG_SETS_B: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"artifact"}),
    frozenset({"searching"}),
    frozenset({"sensor_off"}),
    frozenset({"low_perfusion"}),
)
F_NONE, F_ARTIFACT, F_SEARCHING, F_SENSOR_OFF, F_LOWPERF = range(len(FLAG_SETS_B))
#: Flags under which a bedside monitor shows no number (searching, sensor off).
MONITOR_BLANK = (F_SEARCHING, F_SENSOR_OFF)


@dataclass(slots=True)
class StreamsB:
    """All rows of one patient in arrival order, plus per-device views.

    The rows are parallel arrays (``arrival`` in seconds from ``start``; ``time`` the
    stamped epoch time; ``sig`` an index into :data:`SIGNALS_B`; ``flag`` an index into
    :data:`FLAG_SETS_B`). The views (``ox_t``, ``spo2``, ``pulse``, ``monitor_shown``,
    ``nibp_t``, ``sbp``, ``map``, ``dbp``, ``wt_t``, ``weight``, ``doses``) are sorted by
    stamped time, one entry per distinct measurement (no duplicates), for the comparators
    and plots; a cycle without MAP has ``map`` NaN.
    """

    start: float
    arrival: np.ndarray
    time: np.ndarray
    sig: np.ndarray
    value: np.ndarray
    flag: np.ndarray
    ox_t: np.ndarray
    spo2: np.ndarray
    pulse: np.ndarray
    monitor_shown: np.ndarray
    nibp_t: np.ndarray
    sbp: np.ndarray
    map: np.ndarray
    dbp: np.ndarray
    wt_t: np.ndarray
    weight: np.ndarray
    doses: np.ndarray
    scale: str
    baseline_weight: float
    #: how many of each artifact kind were generated (for tests and the report)
    events: dict[str, int]
    #: the oximeter episodes: (kind, start s, end s, detail) with kind ``motion`` (detail:
    #: flag lag in s, NaN if unflagged), ``sleep_desaturation`` (depth), ``low_perfusion``
    #: (0), ``probe_off`` (end of the garbage phase, s); times from ``start``, true clock
    log: list[tuple[str, float, float, float]]

    def count(self) -> int:
        return len(self.arrival)

    def _order(self, by_time: bool) -> np.ndarray:
        if by_time:
            return np.argsort(self.time, kind="stable")
        return np.arange(len(self.time))

    def rows(self) -> Iterator[tuple[float, str, float, frozenset[str]]]:
        """(time, signal, value, flags) in arrival order; signal ``dose`` for doses."""
        for t, s, v, f in zip(
            self.time.tolist(),
            self.sig.tolist(),
            self.value.tolist(),
            self.flag.tolist(),
            strict=True,
        ):
            yield t, SIGNALS_B[s], v, FLAG_SETS_B[f]

    def readings(
        self, source: str = "virtual-patient", by_time: bool = False
    ) -> Iterator[Reading | float]:
        """:class:`Reading` objects in arrival order (or by stamped time); a dose is its
        time (a float). The values are valid by construction (finite, known signal,
        unit and flags; a test checks each equals ``Reading.of``), so the dataclass
        validation is skipped: it would cost more than the core's own work per row."""
        order = self._order(by_time)
        new = object.__new__
        # the slot setters themselves: a third cheaper than object.__setattr__ by name
        set_t, set_s, set_v, set_u, set_src, set_f = (
            vars(Reading)[name].__set__
            for name in ("time", "signal", "value", "unit", "source", "flags")
        )
        units = [UNIT_OF.get(s, "") for s in SIGNALS_B]
        for t, s, v, f in zip(
            self.time[order].tolist(),
            self.sig[order].tolist(),
            self.value[order].tolist(),
            self.flag[order].tolist(),
            strict=True,
        ):
            if s == DOSE:
                yield t
                continue
            r = new(Reading)
            set_t(r, t)
            set_s(r, SIGNALS_B[s])
            set_v(r, v)
            set_u(r, units[s])
            set_src(r, source)
            set_f(r, FLAG_SETS_B[f])
            yield r

    def write_csv(self, path: str) -> int:
        """The replay CSV (``time,signal,value,flags``) in arrival order; returns rows."""
        n = 0
        with open(path, "w", encoding="utf-8") as f:
            f.write("time,signal,value,flags\n")
            for t, s, v, fl in self.rows():
                val = "" if s == "dose" else f"{v:g}"
                f.write(f"{t:.3f},{s},{val},{';'.join(sorted(fl))}\n")
                n += 1
        return n


# --- helpers -------------------------------------------------------------------------------


def _lognormal(
    rng: np.random.Generator, median: float, logsd: float, clip: tuple[float, float], n: int
) -> np.ndarray:
    return np.clip(median * np.exp(rng.normal(0.0, logsd, n)), *clip)


class _Rows:
    """Collects rows as lists of arrays before one concatenation."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        arrival: np.ndarray,
        time: np.ndarray,
        sig: int | np.ndarray,
        value: np.ndarray,
        flag: int | np.ndarray,
    ) -> None:
        n = len(arrival)
        self.parts.append(
            (
                np.asarray(arrival, float),
                np.asarray(time, float),
                np.broadcast_to(np.asarray(sig, np.int8), (n,)).copy(),
                np.asarray(value, float),
                np.broadcast_to(np.asarray(flag, np.int8), (n,)).copy(),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        cols = [np.concatenate([p[i] for p in self.parts]) for i in range(5)]
        order = np.argsort(cols[0], kind="stable")
        return tuple(c[order] for c in cols)
