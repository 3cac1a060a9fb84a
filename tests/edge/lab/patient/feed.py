"""What a charted, networked feed does to rows, counted the same way for every artifact model
that returns a :class:`~edge.lab.patient.artifacts_b.StreamsB` (models C and D)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edge.lab.patient.artifacts_b import streams as S


def feed_disorder(cohort) -> tuple[int, int, int, int]:
    """``(duplicates, SpO2 rows out of order, charted rows > 10 min late, charted rows)``
    over the cohort's first six patients (charted: SBP, weight and doses)."""
    dups = ooo = late = charted = 0
    for sc in cohort[:6]:
        st = sc.streams
        keyed = Counter(zip(st.time.tolist(), st.sig.tolist(), strict=True))
        dups += sum(c - 1 for c in keyed.values())
        spo2 = st.sig == S.SIG["spo2"]
        ooo += int((np.diff(st.time[spo2]) < 0).sum())
        ch = np.isin(st.sig, [S.SIG["sbp"], S.SIG["weight"], S.DOSE])
        charted += int(ch.sum())
        late += int(((st.arrival[ch] - (st.time[ch] - st.start)) > 600).sum())
    return dups, ooo, late, charted
