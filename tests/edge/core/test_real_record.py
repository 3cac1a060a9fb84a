"""A real ICU record through the core: no physiological alert, and SpO2 losses reported.

The record is ``shared/data/mimic3wdb-s00001/`` next to the repository (its README:
MIMIC-III Waveform Database Matched Subset, record s00001, 32.3 h of 1/min
numerics; a 60-year-old ICU patient who is not an IL-2 patient and never met an
IL-2 hold criterion). It is referenced, never copied into the repository; set
``CAPLEAK_MIMIC_S00001`` to read it from elsewhere. The test converts the WFDB
header and format-16 data itself (no ``wfdb`` package: it downloads at run time).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edge.config import BedConfig, Config
from edge.core import Core
from edge.vocabulary import Alert, Kind, Reading
from tests.support import shared_data

REPO = Path(__file__).resolve().parents[3]
RECORD = Path(os.environ.get("CAPLEAK_MIMIC_S00001", shared_data("mimic3wdb-s00001")))
MISSING = -32768


@dataclass(frozen=True)
class Record:
    start: float  # epoch s of sample 0 (PhysioNet's shifted year moved to 2026)
    period_s: float
    names: list[str]
    values: np.ndarray  # samples x signals, physical units, NaN where no value


def read_record(folder: Path) -> Record:
    """Read a WFDB multi-signal format-16 record (the header names the .dat file)."""
    header = next(folder.glob("*.hea"))
    lines = [ln for ln in header.read_text().splitlines() if ln and not ln.startswith("#")]
    rec = lines[0].split()
    nsig, freq, nsamp = int(rec[1]), float(rec[2].split("/")[0]), int(rec[3])
    clock, date = rec[4], rec[5]
    day, month, _year = (int(x) for x in date.split("/"))  # WFDB: DD/MM/YYYY
    hh, mm, ss = ["0", "0", *clock.split(":")][-3:]  # WFDB: [[HH:]MM:]SS
    # de-identified dates (year 2896) are outside the core's time range: same day in 2026
    t0 = dt.datetime(2026, month, day, int(hh), int(mm), tzinfo=dt.UTC).timestamp() + float(ss)
    names, gains = [], []
    for ln in lines[1 : 1 + nsig]:
        f = ln.split()
        assert f[1] == "16", "format 16 only"
        gains.append(float(f[2].split("/")[0]))
        names.append(f[-1])
    raw = np.fromfile(folder / lines[1].split()[0], dtype="<i2").reshape(-1, nsig)[:nsamp]
    values = np.where(raw == MISSING, np.nan, raw / np.array(gains))
    return Record(t0, 1.0 / freq, names, values)


def readings(rec: Record) -> list[Reading]:
    """What a bedside converter would send: SpO2 and pulse as reported (0 included), cuff
    cycles when there is one. ECG HR, respiration and the (unconnected) arterial line are
    not capleak inputs."""
    col = {n: i for i, n in enumerate(rec.names)}
    out = []
    for k, row in enumerate(rec.values):
        t = rec.start + k * rec.period_s
        for name, signal in (("SpO2", "spo2"), ("PULSE", "pulse")):
            v = row[col[name]]
            if not np.isnan(v):
                out.append(Reading.of(signal, float(v), time=t, source="monitor"))
        for name, signal in (("NBPSys", "sbp"), ("NBPMean", "map"), ("NBPDias", "dbp")):
            v = row[col[name]]
            if not np.isnan(v):
                out.append(Reading.of(signal, float(v), time=t, source="nibp"))
    return out


def losses(rec: Record, longer_than_s: float) -> list[tuple[float, float]]:
    """SpO2 losses (0 or no value) after a first valid value: (start, end) in epoch s."""
    spo2 = rec.values[:, rec.names.index("SpO2")]
    bad = ~(spo2 > 0)
    out, start, seen = [], None, False
    for k, b in enumerate(bad):
        t = rec.start + k * rec.period_s
        if b and seen and start is None:
            start = t
        elif not b:
            if start is not None and t - start > longer_than_s:
                out.append((start, t))
            start, seen = None, True
    if start is not None:
        end = rec.start + len(bad) * rec.period_s
        if end - start > longer_than_s:
            out.append((start, end))
    return out


@pytest.mark.skipif(
    not RECORD.is_dir(), reason=f"the real record is not at {RECORD} (see its README)"
)
def test_real_icu_record_raises_no_physiological_alert_and_reports_spo2_loss() -> None:
    rec = read_record(RECORD)
    assert rec.values.shape == (1936, 10)  # 32.3 h at 1/min, as its README says
    core = Core(Config(bed=BedConfig("s", "u", "b")))
    out: list = []
    for r in readings(rec):
        out += core.update(r)
    out += core.flush()
    out += core.tick(rec.start + len(rec.values) * rec.period_s)
    alerts = [o for o in out if isinstance(o, Alert)]
    serious = [
        a for a in alerts if a.kind == Kind.PHYSIOLOGICAL and a.priority.value in ("medium", "high")
    ]
    assert serious == [], [(a.code, a.message) for a in serious]
    assert core.rejected["nibp:incomplete"] == 0
    assert core.last_nibp is not None
    # every SpO2 loss longer than the setting has a signal_lost within 30 min of its start
    limit_s = core.th.signal_lost_spo2_min * 60.0
    lost = [a for a in alerts if a.code == "signal_lost" and a.phase.value == "start"]
    gone = losses(rec, limit_s)
    assert len(gone) == 5 and max(e - s for s, e in gone) == 189 * 60.0
    for start, _end in gone:
        assert any(start <= a.time <= start + 1800.0 for a in lost), start
    assert len(lost) == len(gone)  # and none elsewhere
