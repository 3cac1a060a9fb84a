"""Model C's clocks and delivery: device clock offset and drift, latency, duplicated,
late and out-of-order rows.

Every device has its own clock: an offset from true time and a drift (quartz
oscillators are specified to +-20-50 ppm, i.e. 2-4 s a day; nobody sets a bedside
monitor's clock by NTP on most wards). The stamps a device puts on its rows come from that
clock; the arrival order is the true order plus latency, except where the link loses a
batch and resends it (late, out of order) or repeats rows after a reconnect (duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Clock offset SD per device, s. JUDGEMENT: unsynchronised device clocks are commonly a
#: minute or more off; a normal with SD 90 s.
OX_CLOCK_OFFSET_SD_S = 90.0
CUFF_CLOCK_OFFSET_SD_S = 120.0
SCALE_CLOCK_OFFSET_SD_S = 60.0
#: Clock drift SD, parts per million (quartz tolerance +-20-50 ppm). JUDGEMENT 20.
CLOCK_DRIFT_PPM_SD = 20.0
#: Serial/network latency of a 1 Hz oximeter row, s (uniform). JUDGEMENT.
OX_LATENCY_S = (0.05, 0.5)
#: Duplicate bursts per hour (a driver re-reads lines after a reconnect), rows per burst,
#: and the delay of the copies, s. JUDGEMENT.
OX_DUP_BURSTS_PER_H = 0.3
OX_DUP_BURST_LEN = (2, 10)
OX_DUP_DELAY_S = (1.0, 5.0)
#: Lost-and-resent batches per day: a batch of samples (s) arrives this long (s) after
#: its end, after newer rows (late and out of order). JUDGEMENT.
OX_RESEND_PER_DAY = 4.0
OX_RESEND_LEN_S = (5.0, 60.0)
OX_RESEND_DELAY_S = (20.0, 180.0)
#: Share of single rows that overtake their predecessor (network reordering). JUDGEMENT.
OX_SWAP_SHARE = 0.001


def lognormal(
    rng: np.random.Generator, median: float, logsd: float, clip: tuple[float, float], n: int
) -> np.ndarray:
    """``n`` log-normal draws with the given median, clipped."""
    return np.clip(median * np.exp(rng.normal(0.0, logsd, n)), *clip)


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """A device clock: ``stamp(t) = start + offset + t * (1 + drift)``."""

    start: float
    offset: float
    drift: float

    @classmethod
    def draw(cls, rng: np.random.Generator, start: float, offset_sd: float) -> DeviceClock:
        return cls(
            start,
            float(rng.normal(0.0, offset_sd)),
            float(rng.normal(0.0, CLOCK_DRIFT_PPM_SD)) * 1e-6,
        )

    def stamp(self, t: np.ndarray | float) -> np.ndarray:
        return self.start + self.offset + np.asarray(t, float) * (1.0 + self.drift)


@dataclass(slots=True)
class Delivery:
    """Arrival (s from start) per sample, and the duplicated samples with their arrival."""

    arrival: np.ndarray
    dup_index: np.ndarray
    dup_arrival: np.ndarray
    events: dict[str, int]


def deliver_oximeter(rng: np.random.Generator, t: np.ndarray) -> Delivery:
    """Arrival times for samples taken at true times ``t`` (sorted, s from start)."""
    n = len(t)
    arrival = t + rng.uniform(*OX_LATENCY_S, n)
    ev = {"ox_resend_batches": 0, "ox_resent_samples": 0, "ox_swaps": 0}
    hours = (float(t[-1] - t[0]) if n else 0.0) / 3600.0
    for _ in range(int(rng.poisson(OX_RESEND_PER_DAY * hours / 24.0))):
        a = float(rng.uniform(t[0], t[-1]))
        i0, i1 = np.searchsorted(t, [a, a + rng.uniform(*OX_RESEND_LEN_S)])
        if i1 <= i0:
            continue
        late = float(t[i1 - 1]) + rng.uniform(*OX_RESEND_DELAY_S)
        arrival[i0:i1] = late + np.arange(i1 - i0) * 1e-3  # the batch in order, at once
        ev["ox_resend_batches"] += 1
        ev["ox_resent_samples"] += int(i1 - i0)
    swaps = np.flatnonzero(rng.random(max(n - 1, 0)) < OX_SWAP_SHARE)
    for i in swaps.tolist():
        if arrival[i] < arrival[i + 1]:
            arrival[i] = arrival[i + 1] + 0.01
            ev["ox_swaps"] += 1
    dup_i: list[np.ndarray] = []
    dup_a: list[np.ndarray] = []
    for _ in range(int(rng.poisson(OX_DUP_BURSTS_PER_H * hours))):
        i0 = int(rng.integers(0, n))
        i1 = min(n, i0 + int(rng.integers(OX_DUP_BURST_LEN[0], OX_DUP_BURST_LEN[1] + 1)))
        idx = np.arange(i0, i1)
        dup_i.append(idx)
        dup_a.append(arrival[i1 - 1] + rng.uniform(*OX_DUP_DELAY_S) + np.arange(len(idx)) * 1e-3)
    di = np.concatenate(dup_i) if dup_i else np.zeros(0, int)
    da = np.concatenate(dup_a) if dup_a else np.zeros(0)
    ev["ox_duplicated_samples"] = len(di)
    return Delivery(arrival, di, da, ev)
