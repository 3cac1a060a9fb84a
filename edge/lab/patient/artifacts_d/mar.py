"""Model D's IL-2 doses as the medication administration record charts them.

Aldesleukin runs as a 15-minute infusion (Proleukin label). The nurse charts each dose
given: most with the start time to the minute, some with the time the infusion ended,
some rounded to 5 minutes; most within minutes, some at the end of a busy stretch (late).
Held doses are not charted as given. JUDGEMENT for every share and delay.
"""

from __future__ import annotations

import math

import numpy as np

#: Infusion length, s (Proleukin label: over 15 minutes).
INFUSION_S = 900.0
#: Share charted with the infusion's end time; share rounded to 5 minutes. JUDGEMENT.
END_TIME_SHARE = 0.2
ROUNDED_SHARE = 0.3
ROUND_S = 300.0
#: Share charted late and the delay (lognormal median s, log sd, clip); otherwise charted
#: within this many s. JUDGEMENT.
LATE_SHARE = 0.35
LATE_DELAY_S = (2400.0, 0.6, (600.0, 14400.0))
PROMPT_DELAY_S = (60.0, 480.0)


def chart_doses(
    given: list[float], rng: np.random.Generator, start: float, events: dict[str, int]
) -> list[tuple[float, float]]:
    """Charted doses as (stamp epoch, arrival true s)."""
    events["dose_late"] = events["dose_end_time"] = events["dose_rounded"] = 0
    out = []
    for t in given:
        at = t
        if rng.random() < END_TIME_SHARE:
            at += INFUSION_S
            events["dose_end_time"] += 1
        if rng.random() < ROUNDED_SHARE:
            at = ROUND_S * round(at / ROUND_S)
            events["dose_rounded"] += 1
        else:
            at = 60.0 * math.floor(at / 60.0)
        if rng.random() < LATE_SHARE:
            events["dose_late"] += 1
            delay = float(
                np.clip(
                    LATE_DELAY_S[0] * math.exp(rng.normal(0.0, LATE_DELAY_S[1])), *LATE_DELAY_S[2]
                )
            )
        else:
            delay = float(rng.uniform(*PROMPT_DELAY_S))
        arrival = max(t, at) + delay
        out.append((start + at, arrival))
    return out
