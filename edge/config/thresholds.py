"""The clinical limits: the ``[thresholds]`` section.

Clinical numbers are configuration. Their defaults cite where they come from
(``shared/docs/clinical.md``); a site's clinicians set their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config.settings import setting


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Clinical limits. Defaults and their sources: ``shared/docs/clinical.md``."""

    hold_sbp_mmhg: float = setting(
        90.0, doc="hold dose for SBP below this (Proleukin label 2.4, Table 2)", min=50, max=150
    )
    hold_map_mmhg: float = setting(
        65.0, doc="hypotension for MAP below this (Khanna 2023: MAP < 65)", min=40, max=120
    )
    hold_spo2_pct: float = setting(
        90.0, doc="hold dose for SpO2 below this (Proleukin label 2.4)", min=70, max=100
    )
    hold_weight_gain_pct: float = setting(
        15.0, doc="hold dose for weight gain above this (Dutcher 2014, Table 3)", min=1, max=50
    )
    hold_hr_relative_bpm: float = setting(
        100.0, doc="relative hold: HR 100-130 persisting (Dutcher 2014, Table 3)", min=60, max=200
    )
    hold_hr_absolute_bpm: float = setting(
        130.0, doc="absolute: HR above 130 persisting (Dutcher 2014, Table 3)", min=80, max=250
    )
    bp_fall_pct: float = setting(
        20.0, doc="bp_falling when SBP or MAP is this far below baseline (issue #4)", min=5, max=60
    )
    bp_projection_h: float = setting(
        4.0,
        doc="bp_falling when the SBP trend crosses the hold limit within this horizon",
        min=0.5,
        max=24,
    )
    weight_gain_pct: list = setting(  # noqa: RUF009
        [5.0, 10.0, 15.0],
        doc="weight_gain low/medium/high steps in % over baseline (issue #4; 15 % Dutcher 2014)",
    )
    spo2_floor_pct: float = setting(
        95.0,
        doc="spo2_falling below this sustained (Dutcher 2014: O2 to keep SpO2 >= 95)",
        min=80,
        max=100,
    )
    spo2_drop_points: float = setting(
        4.0,
        doc="spo2_falling when this many points below baseline, sustained (issue #4 example: "
        "3; one more because a probe change alone moves SpO2 by 1-2 points, and oximeter "
        "accuracy is about +-2 points)",
        min=1,
        max=15,
    )
    satseconds_limit: float = setting(
        50.0, doc="desaturation SatSeconds setting (Nellcor, clinical.md)", min=10, max=200
    )
    rapid_desat_points: float = setting(
        10.0,
        doc="no longer used (kept so existing configuration files load): until issue 12 a "
        "sample this far below hold_spo2_pct raised desaturation at once (Masimo Rapid "
        "Desat); the bedside monitor alarms locally, capleak reports what is sustained",
        min=3,
        max=30,
    )
    desaturation_min_s: float = setting(
        40.0,
        doc="desaturation needs SpO2 below hold_spo2_pct this long (and the SatSeconds "
        "integral at satseconds_limit): Dartmouth surveillance paged only after a limit "
        "had been breached > 30 s (Taenzer 2010, clinical.md 'Alarm practice'); this "
        "project's choice is 40 s, still within issue 12's 'a sustained SpO2 of 86 % alerts "
        "within 60 s' (a step at 50 s, numerics every 15 s or 60 s at 60 s), because "
        "unflagged motion dips with a steady pulse last 30-80 s on an averaging oximeter "
        "(artifact model D, seed 6); an "
        "unflagged dip of <= 20 s never alerts",
        min=0,
        max=3600,
    )
    desaturation_suspect_min_s: float = setting(
        120.0,
        doc="a desaturation with motion evidence from a second signal (device flags, an "
        "erratic pulse, PI collapse) within desaturation_evidence_s needs this long (this "
        "project's choice, 4 x desaturation_min_s; alarm validation against a second "
        "signal, Charbonnier & Gentil 2010, signal-processing.md)",
        min=0,
        max=3600,
    )
    desaturation_fast_fall_min_s: float = setting(
        40.0,
        doc="a desaturation whose only evidence is its own fall, faster than physiology "
        "(spo2_implausible_fall_points), needs this long: a level that holds is not a "
        "motion spike, and a step to a sustained 86 % still alerts within 60 s (issue 12: "
        "spo2_confirm_s of the fast-drop filter plus this)",
        min=0,
        max=3600,
    )
    desaturation_deep_points: float = setting(
        3.5,
        doc="a desaturation whose averaged SpO2 (desaturation_average_s) is this "
        "many points below hold_spo2_pct (86.5 % at 90) is deep and alerts after "
        "desaturation_min_s; a shallower one only after desaturation_shallow_min_s "
        "(issue 12: a sustained 86 % alerts within 60 s, a dip to 87-88 % for a minute or "
        "two, as in sleep, does not; NEWS2 scale 2 scores 86-87 % as 1, clinical.md)",
        min=0,
        max=20,
    )
    desaturation_shallow_min_s: float = setting(
        300.0,
        doc="a shallow desaturation (averaged SpO2 below hold_spo2_pct but above the deep "
        "level) alerts only once the average has stayed below the limit this long (this "
        "project's choice: a sixth of the 30-min window of Saab 2021's ward hypoxaemia, "
        "clinical.md; the bedside monitor alarms locally within seconds meanwhile)",
        min=0,
        max=3600,
    )
    desaturation_average_s: float = setting(
        16.0,
        doc="the desaturation depth is judged on the mean of the accepted SpO2 samples over "
        "this many seconds (oximeters average over 2-16 s; 16 s averaging has the fewest "
        "readings off by > 2 points under motion, signal-processing.md 'The data')",
        min=1,
        max=120,
    )
    desaturation_evidence_s: float = setting(
        30.0,
        doc="motion evidence this long before a desaturation starts makes it suspect "
        "(device flags lag the artifact by 2-8 s, issue 12; the fast-drop filter holds a "
        "step for spo2_confirm_s first)",
        min=0,
        max=600,
    )
    spo2_implausible_fall_points: float = setting(
        9.0,
        doc="an SpO2 fall of this many points within spo2_implausible_fall_s is faster than "
        "physiology: the desaturation that follows must hold for "
        "desaturation_fast_fall_min_s (this project's choice, 3 points/s: a real "
        "desaturation, even in apnoea, falls over tens of seconds, while a probe or motion "
        "artifact falls in 1-3 s; see spo2_impossible_fall_points)",
        min=3,
        max=50,
    )
    spo2_impossible_fall_points: float = setting(
        20.0,
        doc="an SpO2 fall of this many points within spo2_implausible_fall_s is one "
        "physiology cannot make (issue 12: 'SpO2 cannot fall 20 points in 2 s'): motion "
        "evidence as strong as a device flag (desaturation_suspect_min_s); a smaller fast "
        "fall only needs its level to hold (desaturation_fast_fall_min_s)",
        min=3,
        max=100,
    )
    spo2_implausible_fall_s: float = setting(
        3.0,
        doc="the window of spo2_implausible_fall_points, in seconds of raw samples",
        min=1,
        max=30,
    )
    pi_collapse_ratio: float = setting(
        0.5,
        doc="a perfusion index below this fraction of its 5-min average is motion evidence "
        "for desaturation (this project's choice; low perfusion is a device flag too)",
        min=0.05,
        max=0.95,
    )
    tachycardia_bpm: float = setting(
        100.0, doc="tachycardia above this, sustained (Dutcher 2014, Table 3)", min=60, max=200
    )
    tachycardia_high_bpm: float = setting(
        130.0, doc="tachycardia at high priority above this (Dutcher 2014)", min=80, max=250
    )
    tachycardia_min_s: float = setting(
        28800.0,
        doc="tachycardia (medium) must persist this long: a whole dosing interval, because "
        "post-dose fever tachycardia (fever 2-4 h after each dose, Dutcher 2014 Table 2) "
        "settles within it while a leak's compensation persists ('persisting', Table 3)",
        min=0,
        max=86400,
    )
    tachycardia_high_min_s: float = setting(
        600.0,
        doc="tachycardia above tachycardia_high_bpm (high) must persist this long (Dutcher "
        "2014: HR > 130 persisting is an absolute criterion)",
        min=0,
        max=86400,
    )
    alarm_delay_s: float = setting(
        15.0,
        doc="minimum condition duration for threshold alerts (Masimo default 15 s; Gorges 2009)",
        min=0,
        max=3600,
    )
    signal_lost_spo2_min: float = setting(
        10.0,
        doc="signal_lost (technical) when SpO2, once received, has had no valid reading "
        "(absent, 0, sensor_off, searching) this long (issue 12 default 10 min; a real ICU "
        "record had 189 min of SpO2 = 0 without any alert)",
        min=1,
        max=1440,
    )
    sensor_off_grace_s: float = setting(
        60.0, doc="sensor_off after the device reports no/off sensor this long", min=0, max=3600
    )
    nibp_overdue_min: float = setting(
        270.0,
        doc="nibp_overdue after this long without NIBP: the longest usual cycle (q4 h, "
        "signal-processing.md 'The data') plus 30 min slack, so an on-time q4h ward "
        "does not trip it",
        min=5,
        max=1440,
    )
    dose_check_lead_min: float = setting(
        120.0,
        doc="run the pre-dose check this long before a due dose (Betof Warner 2024: "
        "BP checked about 2 h before each dose)",
        min=0,
        max=480,
    )
    baseline_learn_h: float = setting(
        2.0, doc="learn baselines from the first hours when not configured", min=0.25, max=48
    )
    baseline_min_cycles: int = setting(
        4,
        doc="a learned SBP/MAP baseline is used (by the %-below-baseline rule) only from at "
        "least this many cycles (issue 12: 'learned, n=2' moved every %-rule); its value is "
        "the median, robust to one dip or outlier; otherwise configure or command one",
        min=1,
        max=50,
    )
    baseline_min_span_h: float = setting(
        1.0,
        doc="...and only when those cycles span at least this many hours (NIBP every 15 min "
        "to 4 h, signal-processing.md 'The data': one burst of re-measures is one reading)",
        min=0,
        max=48,
    )
    bp_hysteresis_mmhg: float = setting(
        5.0,
        doc="BP alerts end only this far back above their limit (NIBP error +-5 mmHg, "
        "signal-processing.md)",
        min=0,
        max=30,
    )
    bp_projection_confidence: float = setting(
        0.8,
        doc="bp_falling by projection needs this probability of crossing within the horizon",
        min=0.5,
        max=0.999,
    )
    nibp_outlier_sigma: float = setting(
        3.0,
        doc="an NIBP cycle this many innovation SDs off its trend waits for the next cycle "
        "to confirm it (issue #4; Yang 2010 uses prediction errors)",
        min=2,
        max=10,
    )
    spo2_fast_drop_pct: float = setting(
        4.0,
        doc="an SpO2 sample this many % (relative) below the last accepted one is an "
        "artifact unless it persists (pobm/PhysioZoo cleaning, signal-processing.md)",
        min=1,
        max=30,
    )
    spo2_confirm_s: float = setting(
        10.0,
        doc="a fast SpO2 drop is accepted once it has persisted this long (Gorges 2009: "
        "a 14 s delay removes half of ignored alarms)",
        min=0,
        max=120,
    )
    spo2_falling_min_s: float = setting(
        1800.0,
        doc="spo2_falling needs the SpO2 trend below its limit this long (hours-long "
        "pulmonary-oedema drift; Saab 2021 uses 30 min windows)",
        min=60,
        max=86400,
    )
    weight_step_kg: float = setting(
        1.5,
        doc="a bed-scale change this big within weight_step_window_min is a step, kept "
        "aside until it reverses (artifact) or persists (protocols.md, 'Scales')",
        min=0.2,
        max=20,
    )
    weight_step_window_min: float = setting(
        30.0,
        doc="a weight step that reverses within this window is rejected as an artifact",
        min=1,
        max=720,
    )
    weight_jump_kg: float = setting(
        3.0,
        doc="a weighing further than this (plus weight_jump_kg_per_h for each hour since the "
        "last accepted one) from the last accepted weight is held for the next weighing: "
        "not fluid but a transcription error or something on the scale (issue 12: scale "
        "outliers of +-3 kg and re-weighing)",
        min=0.5,
        max=50,
    )
    weight_jump_kg_per_h: float = setting(
        0.25,
        doc="the fastest weight change fluid explains, kg per hour (JUDGEMENT: HDIL-2 gains "
        "about +4 kg in 5 days, clinical.md; fluid boluses of 250-500 mL, Betof Warner 2024)",
        min=0,
        max=10,
    )
    weight_hysteresis_pct: float = setting(
        1.0,
        doc="weight_gain steps down only this many % below a step (scale error ~0.5 %)",
        min=0,
        max=5,
    )
    # The rules' own numbers (edge/core/rules; docs/core.md, "Indicators and alert
    # conditions"): before issue #11 these were constants in edge/core/core.py.
    spo2_plausible_min_pct: float = setting(
        50.0,
        doc="SpO2 below this is unusable and rejected (pobm/PhysioZoo cleaning range "
        "50-100, signal-processing.md 'SpO2 artifact rules')",
        min=0,
        max=80,
    )
    spo2_blanking_s: float = setting(
        10.0,
        doc="after an unusable SpO2 (below spo2_plausible_min_pct) the next samples are "
        "blanked this long (pobm/PhysioZoo: blank +-10 s, signal-processing.md)",
        min=0,
        max=120,
    )
    desaturation_off_s: float = setting(
        60.0,
        doc="desaturation ends only after recovery has held this long (at least "
        "alarm_delay_s); the window of Nellcor's 3-in-60 s rule (clinical.md 'Alarm "
        "practice'), so a saturation hovering at the limit does not flap",
        min=0,
        max=3600,
    )
    desaturation_recovery_points: float = setting(
        2.0,
        doc="desaturation ends only with SpO2 this many points above hold_spo2_pct "
        "(oximeter accuracy is about +-2 points, signal-processing.md 'The data')",
        min=0,
        max=10,
    )
    spo2_falling_off_s: float = setting(
        600.0,
        doc="spo2_falling ends only after the trend has been back above its limit this "
        "long (an hours-long drift, Saab 2021 30 min windows, clinical.md)",
        min=0,
        max=86400,
    )
    spo2_falling_hysteresis_points: float = setting(
        1.0,
        doc="spo2_falling ends only with the SpO2 trend this many points above its limit "
        "(a probe change moves SpO2 by 1-2 points, see spo2_drop_points)",
        min=0,
        max=10,
    )
    tachycardia_off_s: float = setting(
        600.0,
        doc="tachycardia ends only after the pulse has been below its limit this long "
        "(Dutcher 2014 Table 3: HR 'persisting'; the same 10 min as tachycardia_high_min_s)",
        min=0,
        max=86400,
    )
    tachycardia_hysteresis_bpm: float = setting(
        5.0,
        doc="tachycardia steps down only this far below its limit (docs/core.md; pulse "
        "rates wander a few /min minute to minute)",
        min=0,
        max=30,
    )
    bp_confirm_cycles: int = setting(
        2,
        doc="hypotension and bp_falling start and end only after this many consecutive "
        "validated NIBP cycles agree (NIBP error +-5 mmHg and failed cycles, "
        "signal-processing.md 'The data')",
        min=1,
        max=6,
    )
    bp_projection_min_cycles: int = setting(
        3,
        doc="bp_falling by projection needs at least this many cycles in the trend (a "
        "slope from fewer +-5 mmHg readings is noise, signal-processing.md)",
        min=2,
        max=20,
    )
    bp_projection_release: float = setting(
        0.5,
        doc="an active bp_falling by projection ends once the crossing probability falls "
        "below this (hysteresis under bp_projection_confidence, docs/core.md)",
        min=0.05,
        max=0.95,
    )
    nibp_outlier_min_mmhg: float = setting(
        15.0,
        doc="an NIBP cycle is an outlier only when it is also this many mmHg off its "
        "trend (three times the +-5 mmHg NIBP error, signal-processing.md 'The data')",
        min=0,
        max=60,
    )
    nibp_cusum_h: float = setting(
        4.0,
        doc="CUSUM decision limit (in prediction-error SDs, k = 0.5) that re-opens an NIBP "
        "trend's slope (Yang, Dumont & Ansermino 2010, signal-processing.md 'Change "
        "detection')",
        min=1,
        max=20,
    )
    hypotension_remeasure_min: float = setting(
        35.0,
        doc="the NIBP outlier gate holds a below-limit cycle far off its trend at most this "
        "long waiting for a re-measure, then uses it (Betof Warner 2024: below the BP "
        "target, recheck at 30 min; plus 5 min for the cycle to run and arrive); a "
        "below-limit cycle the gate passes raises hypotension at medium at once",
        min=1,
        max=480,
    )
    nibp_cycle_window_s: float = setting(
        60.0,
        doc="NIBP parts (sbp, map, dbp) from one source within this many seconds of the "
        "first part form one cycle, in any order, MAP or DBP optional (issue 12: charting "
        "systems and HL7 feeds send the parts separately, ms to s apart); the cycle closes "
        "when complete or when the window has passed, and a late part never splits it",
        min=0,
        max=600,
    )
    pulse_average_half_life_s: float = setting(
        300.0,
        doc="half-life of the smoothed pulse used by tachycardia and the pre-dose check: "
        "HR 'persisting' (Dutcher 2014 Table 3); time-aware exponential weighting "
        "(signal-processing.md 'Streaming estimators')",
        min=30,
        max=3600,
    )
    hold_recent_min: float = setting(
        60.0,
        doc="the pre-dose check shows SpO2 and HR values no older than this; older ones are "
        "missing, never reassuring (clinical.md 'Hold / stop criteria': assessed at each "
        "dose)",
        min=5,
        max=480,
    )
    hold_recent_nibp_min: float = setting(
        240.0,
        doc="the pre-dose check shows the last NIBP cycle no older than this (the longest "
        "usual NIBP interval, q4 h, signal-processing.md 'The data')",
        min=15,
        max=1440,
    )
