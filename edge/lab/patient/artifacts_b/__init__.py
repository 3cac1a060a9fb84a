"""Artifact model B: a second, independently written model of what the bedside devices report.

**Written without looking at the first model.** The author of this module did not open
``edge/lab/patient/measurement.py``, the artifact parts of ``edge/lab/patient/model.py``,
nor the core's artifact filters and rules (``edge/core/artifacts.py``, ``edge/core/rules*``).
Only the interfaces were used: the :class:`~edge.lab.patient.model.Trajectory` fields (true
physiology on a 1-minute grid), the public attribute names of the first model's ``Streams``
(so the evaluation, the comparators and the plots can read either), and
``edge/vocabulary.py``. The core was tuned on model A; this model exists to check that
the core's figures are not a property of model A.

:func:`measure_b` turns a patient's TRUE trajectory into the rows the core sees:

Pulse oximeter (1 Hz SpO2 + pulse, perfusion index every 30 s):
  - measurement noise (slow AR(1) wander) and a per-patient probe bias;
  - **motion dips**: SpO2 falls fast (faster than physiology allows) by 4-25 points
    for seconds; most keep a steady pulse; only some are flagged ``artifact``, and the
    flag appears 2-8 s after the dip starts (flag lag);
  - **probe off**: a few seconds of garbage values (unflagged), then ``searching``
    (value 0; some devices later say ``sensor_off``), then a re-attach ramp from a low
    value up to the true one;
  - **low perfusion**: dropouts (no row), ``low_perfusion``-flagged low readings and a
    few unflagged low readings, more often when the true SBP is low;
  - **sleep desaturations**: in some patients, real 8-9 point dips lasting minutes at
    night (physiological, unflagged, not CLS);
  - a few duplicated and out-of-order rows and an occasional burst of late rows.
NIBP (one cycle = sbp, map, dbp):
  - per-patient cuff bias, per-reading error, 4 % unflagged outliers, failed cycles
    (no values) with an automatic retry, a re-measure after a low reading, tighter
    intervals while the pressure is low;
  - the monitor clock has minute resolution and its own offset; the cycle's parts carry
    separate timestamps (``sbp`` at ``.000``, ``map`` at ``.001``, ``dbp`` at ``.002``),
    arrive in any order, and some cycles have no MAP;
  - duplicated and late rows (an HL7/charting feed).
Weight: a standing scale (daily plus some extra weighings) or a bed scale (every 15 min,
with things put on the bed); +-3 kg outliers and a re-weighing after an implausible
value; minute-resolution clock; duplicated and late rows.
Doses: charted late (the row arrives minutes to hours after the dose), the charted time
rounded to 5 minutes.

Every rate and size is a named constant in the submodules; each comment cites
``shared/docs/signal-processing.md`` (SP) or ``shared/docs/clinical.md`` (CL), or says
JUDGEMENT (the author's choice, no source). Deterministic for the generator passed in.

Layout (each submodule holds its artifacts' constants next to the code that draws them):
:mod:`~edge.lab.patient.artifacts_b.streams` (the row encoding, :class:`StreamsB`),
:mod:`~edge.lab.patient.artifacts_b.oximeter`, :mod:`~edge.lab.patient.artifacts_b.nibp`,
:mod:`~edge.lab.patient.artifacts_b.charting` (the charted feeds' clock, lateness and
duplicates; doses), :mod:`~edge.lab.patient.artifacts_b.scale` (weight) and
:mod:`~edge.lab.patient.artifacts_b.assembly` (:func:`measure_b`).
"""

from __future__ import annotations

from edge.lab.patient.artifacts_b.assembly import measure_b
from edge.lab.patient.artifacts_b.charting import (
    CHART_CLOCK_OFFSET_SD_S,
    CHART_DUP_DELAY_S,
    CHART_DUP_SHARE,
    CHART_LATE_CLIP_S,
    CHART_LATE_LOGSD,
    CHART_LATE_MEDIAN_S,
    CHART_LATE_SHARE,
    DOSE_CHART_ROUND_S,
    DOSE_LATE_CLIP_S,
    DOSE_LATE_LOGSD,
    DOSE_LATE_MEDIAN_S,
    DOSE_LATE_SHARE,
    PART_ARRIVAL_S,
)
from edge.lab.patient.artifacts_b.nibp import (
    CUFF_BIAS_SD,
    CUFF_ERROR_SD,
    CUFF_FAIL_SHARE,
    CUFF_JITTER_S,
    CUFF_LOW_SBP,
    CUFF_NO_MAP_SHARE,
    CUFF_OUTLIER_DIA_FRAC,
    CUFF_OUTLIER_MMHG,
    CUFF_OUTLIER_SHARE,
    CUFF_REMEASURE_S,
    CUFF_REMEASURE_SHARE,
    CUFF_RETRY_S,
    CUFF_RETRY_SHARE,
    CUFF_WATCH_INTERVAL_S,
    CUFF_WATCH_SBP,
    PART_OFFSET_S,
)
from edge.lab.patient.artifacts_b.oximeter import (
    LOWPERF_BIAS,
    LOWPERF_CLIP_S,
    LOWPERF_DROP_SHARE,
    LOWPERF_FLAGGED_SHARE,
    LOWPERF_HYPOTENSION_FACTOR,
    LOWPERF_LOGSD,
    LOWPERF_MEDIAN_S,
    LOWPERF_NOISE_SD,
    LOWPERF_PER_H,
    LOWPERF_PI,
    MOTION_DEPTH,
    MOTION_DUR_CLIP_S,
    MOTION_DUR_LOGSD,
    MOTION_DUR_MEDIAN_S,
    MOTION_FLAG_LAG_S,
    MOTION_FLAGGED_SHARE,
    MOTION_PER_H_ASLEEP,
    MOTION_PER_H_AWAKE,
    MOTION_PULSE_SD,
    MOTION_STEADY_PULSE_SHARE,
    OX_BIAS_SD,
    OX_BURST_DELAY_S,
    OX_BURST_LEN_S,
    OX_BURST_PER_H,
    OX_CLOCK_DRIFT_SD_S_DAY,
    OX_CLOCK_OFFSET_SD_S,
    OX_DUP_SHARE,
    OX_LATE_S,
    OX_LATE_SHARE,
    OX_NOISE_SD,
    OX_NOISE_TAU_S,
    OX_PERIOD_S,
    PI_PERIOD_S,
    PI_RANGE,
    PROBE_GARBAGE_S,
    PROBE_OFF_CLIP_S,
    PROBE_OFF_LOGSD,
    PROBE_OFF_MEDIAN_S,
    PROBE_OFF_PER_H,
    PROBE_RAMP_FROM,
    PROBE_RAMP_S,
    PROBE_SENSOR_OFF_AFTER_S,
    PROBE_SENSOR_OFF_SHARE,
    PULSE_NOISE_SD,
    SLEEP_DESAT_DEPTH,
    SLEEP_DESAT_DUR_S,
    SLEEP_DESAT_PATIENT_SHARE,
    SLEEP_DESAT_PER_H,
    SLEEP_DESAT_PULSE,
    SLEEP_HOURS,
    _asleep,
)
from edge.lab.patient.artifacts_b.scale import (
    ADMISSION_WEIGHT_SD_KG,
    BED_ITEM_KG,
    BED_ITEM_PER_H,
    BED_ITEM_S,
    BED_SCALE_PERIOD_S,
    DAILY_WEIGH_HOUR,
    EXTRA_WEIGH_HOURS,
    EXTRA_WEIGH_SHARE,
    REWEIGH_S,
    REWEIGH_SHARE,
    WEIGH_OUTLIER_KG,
    WEIGH_OUTLIER_SHARE,
    WEIGH_SD_KG,
)
from edge.lab.patient.artifacts_b.streams import (
    DOSE,
    F_ARTIFACT,
    F_LOWPERF,
    F_NONE,
    F_SEARCHING,
    F_SENSOR_OFF,
    FLAG_SETS_B,
    MONITOR_BLANK,
    SIG,
    SIGNALS_B,
    StreamsB,
)

__all__ = [
    "ADMISSION_WEIGHT_SD_KG",
    "BED_ITEM_KG",
    "BED_ITEM_PER_H",
    "BED_ITEM_S",
    "BED_SCALE_PERIOD_S",
    "CHART_CLOCK_OFFSET_SD_S",
    "CHART_DUP_DELAY_S",
    "CHART_DUP_SHARE",
    "CHART_LATE_CLIP_S",
    "CHART_LATE_LOGSD",
    "CHART_LATE_MEDIAN_S",
    "CHART_LATE_SHARE",
    "CUFF_BIAS_SD",
    "CUFF_ERROR_SD",
    "CUFF_FAIL_SHARE",
    "CUFF_JITTER_S",
    "CUFF_LOW_SBP",
    "CUFF_NO_MAP_SHARE",
    "CUFF_OUTLIER_DIA_FRAC",
    "CUFF_OUTLIER_MMHG",
    "CUFF_OUTLIER_SHARE",
    "CUFF_REMEASURE_S",
    "CUFF_REMEASURE_SHARE",
    "CUFF_RETRY_S",
    "CUFF_RETRY_SHARE",
    "CUFF_WATCH_INTERVAL_S",
    "CUFF_WATCH_SBP",
    "DAILY_WEIGH_HOUR",
    "DOSE",
    "DOSE_CHART_ROUND_S",
    "DOSE_LATE_CLIP_S",
    "DOSE_LATE_LOGSD",
    "DOSE_LATE_MEDIAN_S",
    "DOSE_LATE_SHARE",
    "EXTRA_WEIGH_HOURS",
    "EXTRA_WEIGH_SHARE",
    "FLAG_SETS_B",
    "F_ARTIFACT",
    "F_LOWPERF",
    "F_NONE",
    "F_SEARCHING",
    "F_SENSOR_OFF",
    "LOWPERF_BIAS",
    "LOWPERF_CLIP_S",
    "LOWPERF_DROP_SHARE",
    "LOWPERF_FLAGGED_SHARE",
    "LOWPERF_HYPOTENSION_FACTOR",
    "LOWPERF_LOGSD",
    "LOWPERF_MEDIAN_S",
    "LOWPERF_NOISE_SD",
    "LOWPERF_PER_H",
    "LOWPERF_PI",
    "MONITOR_BLANK",
    "MOTION_DEPTH",
    "MOTION_DUR_CLIP_S",
    "MOTION_DUR_LOGSD",
    "MOTION_DUR_MEDIAN_S",
    "MOTION_FLAGGED_SHARE",
    "MOTION_FLAG_LAG_S",
    "MOTION_PER_H_ASLEEP",
    "MOTION_PER_H_AWAKE",
    "MOTION_PULSE_SD",
    "MOTION_STEADY_PULSE_SHARE",
    "OX_BIAS_SD",
    "OX_BURST_DELAY_S",
    "OX_BURST_LEN_S",
    "OX_BURST_PER_H",
    "OX_CLOCK_DRIFT_SD_S_DAY",
    "OX_CLOCK_OFFSET_SD_S",
    "OX_DUP_SHARE",
    "OX_LATE_S",
    "OX_LATE_SHARE",
    "OX_NOISE_SD",
    "OX_NOISE_TAU_S",
    "OX_PERIOD_S",
    "PART_ARRIVAL_S",
    "PART_OFFSET_S",
    "PI_PERIOD_S",
    "PI_RANGE",
    "PROBE_GARBAGE_S",
    "PROBE_OFF_CLIP_S",
    "PROBE_OFF_LOGSD",
    "PROBE_OFF_MEDIAN_S",
    "PROBE_OFF_PER_H",
    "PROBE_RAMP_FROM",
    "PROBE_RAMP_S",
    "PROBE_SENSOR_OFF_AFTER_S",
    "PROBE_SENSOR_OFF_SHARE",
    "PULSE_NOISE_SD",
    "REWEIGH_S",
    "REWEIGH_SHARE",
    "SIG",
    "SIGNALS_B",
    "SLEEP_DESAT_DEPTH",
    "SLEEP_DESAT_DUR_S",
    "SLEEP_DESAT_PATIENT_SHARE",
    "SLEEP_DESAT_PER_H",
    "SLEEP_DESAT_PULSE",
    "SLEEP_HOURS",
    "WEIGH_OUTLIER_KG",
    "WEIGH_OUTLIER_SHARE",
    "WEIGH_SD_KG",
    "StreamsB",
    "_asleep",
    "measure_b",
]
