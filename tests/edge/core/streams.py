"""Hand-built reading streams for the core's scenario tests and the benchmark.

Numbers are grounded in ``shared/docs``: NIBP +-5 mmHg measurement error,
1 Hz SpO2/pulse with motion artifacts (some flagged, some not), standing-scale
weights a few times a day; HDIL-2 doses every 8 h.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from edge.vocabulary import Reading

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
DAY = 86400.0


@dataclass
class Patient:
    """Smooth 'true' physiology as functions of hours since T0 (overridable)."""

    sbp0: float = 122.0
    spo2_0: float = 97.0
    pulse0: float = 80.0
    weight0: float = 72.0
    sbp_fall_per_h: float = 0.0
    sbp_fall_start_h: float = 0.0
    weight_gain_pct_total: float = 2.0  # over the whole stay, linear
    days: float = 5.0

    def sbp(self, h: float) -> float:
        circadian = 6.0 * math.sin(2 * math.pi * (h - 4.0) / 24.0)
        fall = max(0.0, h - self.sbp_fall_start_h) * self.sbp_fall_per_h
        return self.sbp0 + circadian - fall

    def pulse(self, h: float) -> float:
        post_dose = 8.0 * math.exp(-(((h % 8.0) - 3.0) ** 2) / 2.0)  # fever 2-4 h after a dose
        return self.pulse0 + 5.0 * math.sin(2 * math.pi * h / 24.0) + post_dose

    def weight(self, h: float) -> float:
        return self.weight0 * (1 + self.weight_gain_pct_total / 100.0 * h / (self.days * 24))


def nibp(t: float, sbp: float, rng: random.Random, source: str = "nibp") -> list[Reading]:
    s = round(sbp + rng.gauss(0, 5))
    d = round(sbp * 0.62 + rng.gauss(0, 4))
    m = round(d + (s - d) / 3 + rng.gauss(0, 2))
    m = min(max(m, d + 1), s - 1)
    return [
        Reading.of("sbp", s, time=t, source=source),
        Reading.of("dbp", d, time=t, source=source),
        Reading.of("map", m, time=t, source=source),
    ]


def stay(
    p: Patient,
    seed: int = 1,
    *,
    fast_hz: float = 1.0,
    nibp_min: float = 30.0,
    weights_per_day: int = 2,
    artifacts: bool = True,
) -> Iterator[Reading]:
    """A whole stay in time order: 1 Hz SpO2 + pulse, NIBP, weights, with artifacts."""
    rng = random.Random(seed)
    end = T0 + p.days * DAY
    step = 1.0 / fast_hz
    next_nibp = T0
    next_weight = T0 + 60.0
    spo2_wander = 0.0
    pulse_wander = 0.0
    artifact_left = 0
    dip_left = 0
    dip_depth = 0.0
    t = T0
    while t < end:
        h = (t - T0) / 3600.0
        if t >= next_nibp:
            sbp = p.sbp(h)
            if artifacts and rng.random() < 0.01:
                rs = nibp(t, sbp, rng)
                yield from (r.with_flags({"artifact"}) for r in rs)
            elif artifacts and rng.random() < 0.01:
                yield from nibp(t, sbp - 45.0, rng)  # an isolated unflagged outlier
            else:
                yield from nibp(t, sbp, rng)
            next_nibp += nibp_min * 60.0
        if t >= next_weight:
            w = round(p.weight(h) + rng.gauss(0, 0.25), 1)
            if artifacts and rng.random() < 0.05:
                yield Reading.of("weight", w + 3.0, time=t, source="scale", flags={"unstable"})
            yield Reading.of("weight", w, time=t, source="scale")
            next_weight += DAY / weights_per_day
        spo2_wander += -0.002 * spo2_wander + rng.gauss(0, 0.03)
        pulse_wander += -0.005 * pulse_wander + rng.gauss(0, 0.2)
        spo2 = p.spo2_0 + spo2_wander + rng.gauss(0, 0.6)
        pulse = p.pulse(h) + pulse_wander + rng.gauss(0, 1.5)
        flags: frozenset[str] = frozenset()
        if artifacts:
            if artifact_left == 0 and rng.random() < 1 / 1800:
                artifact_left = rng.randint(5, 60)  # motion, flagged by the device
            if dip_left == 0 and rng.random() < 1 / 3600:
                dip_left = rng.randint(2, 5)  # short unflagged dips
                dip_depth = rng.uniform(6, 25)
        if artifact_left:
            artifact_left -= 1
            flags = frozenset({"artifact"})
            spo2 -= rng.uniform(0, 30)
            pulse += rng.uniform(-30, 60)
        elif dip_left:
            dip_left -= 1
            spo2 -= dip_depth
        spo2 = min(100.0, max(40.0, round(spo2)))
        yield Reading.of("spo2", spo2, time=t, source="spo2", flags=flags)
        yield Reading.of("pulse", round(max(25.0, pulse)), time=t, source="spo2", flags=flags)
        t += step


def doses(p: Patient, first_h: float = 3.0) -> list[float]:
    """Dose times every 8 h from ``first_h``, at most 14."""
    return [T0 + (first_h + 8 * k) * 3600.0 for k in range(14) if first_h + 8 * k < p.days * 24]
