"""The bed's configuration: one TOML file, validated up front.

Each section is a frozen dataclass; each field's metadata carries its
documentation and its allowed range, and one generic validator walks them, so
a new setting is one line here and one in ``examples/capleak.toml``. A problem
raises :class:`ConfigError` naming the key (``thresholds.hold_sbp_mmhg``) and
what is wrong; the CLI turns it into exit status 78 (``EX_CONFIG``) and one
paragraph, never a traceback.

Clinical numbers are configuration. Their defaults cite where they come from
(``shared/docs/clinical.md``); a site's clinicians set their own. capleak
supports a decision, it never makes one.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge.vocabulary import parse_time

EX_CONFIG = 78  # sysexits.h: configuration error

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """A configuration problem, tied to the key it is about."""

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"configuration error{where}: {key}: {problem}")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    min: float | None = None,
    max: float | None = None,
    choices: Iterable[str] | None = None,
    pattern: re.Pattern[str] | None = None,
) -> Any:
    """A dataclass field with validation metadata."""
    meta = {
        "doc": doc,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices else None,
        "pattern": pattern,
    }
    if isinstance(default, list | dict):
        factory: Callable[[], Any] = partial(copy.copy, default)
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class BedConfig:
    """Identity of the bed; these ids become MQTT topic levels. Never patient ids."""

    site: str = setting(doc="site id (topic level)", pattern=_ID_RE)
    unit: str = setting(doc="ward/unit id (topic level)", pattern=_ID_RE)
    bed: str = setting(doc="bed id (topic level)", pattern=_ID_RE)


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One serial device at the bed."""

    id: str = setting(doc="device id, unique at this bed", pattern=_ID_RE)
    driver: str = setting(doc="driver name, see `capleak decode --help`")
    port: str = setting(doc="pyserial URL: /dev/serial/by-id/..., socket://, rfc2217://, loop://")
    baudrate: int | None = setting(
        None, doc="baud rate (driver default when unset)", min=300, max=921600
    )
    bytesize: int | None = setting(None, doc="data bits", min=5, max=8)
    parity: str | None = setting(None, doc="parity", choices=("N", "E", "O", "M", "S"))
    stopbits: float | None = setting(None, doc="stop bits", min=1, max=2)
    xonxoff: bool = setting(False, doc="software flow control")
    rtscts: bool = setting(False, doc="hardware flow control")
    poll_interval_s: float | None = setting(
        None, doc="poll period for polled devices", min=0.2, max=86400
    )
    max_quiet_s: float | None = setting(
        None, doc="silence before device_offline", min=0.5, max=86400
    )
    options: dict = setting({}, doc="driver-specific options")  # noqa: RUF009


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The MQTT broker at the central station."""

    url: str = setting("mqtt://127.0.0.1:1883", doc="mqtt://, mqtts:// or ws:// URL")
    protocol: str = setting("5", doc="MQTT protocol version", choices=("5", "3.1.1"))
    client_id: str | None = setting(None, doc="client id (default capleak-SITE-UNIT-BED)")
    keepalive_s: int = setting(30, doc="MQTT keepalive", min=5, max=3600)
    ca_file: str | None = setting(None, doc="CA bundle that signs the broker certificate")
    cert_file: str | None = setting(None, doc="client certificate (mTLS)")
    key_file: str | None = setting(None, doc="client private key (mTLS)")
    credentials_file: str | None = setting(
        None, doc="TOML file with username and password (never put secrets in this file)"
    )


@dataclass(frozen=True, slots=True)
class PatientConfig:
    """Patient context. No identifiers: only what the trends need."""

    baseline_weight_kg: float | None = setting(
        None, doc="pre-treatment weight; learned from the first hours when unset", min=2, max=400
    )
    baseline_sbp_mmhg: float | None = setting(None, doc="pre-treatment SBP", min=50, max=250)
    baseline_map_mmhg: float | None = setting(None, doc="pre-treatment MAP", min=30, max=200)
    baseline_spo2_pct: float | None = setting(None, doc="pre-treatment SpO2", min=70, max=100)
    dose_start: str | None = setting(
        None, doc="ISO 8601 time (with zone) of the first scheduled IL-2 dose"
    )
    dose_interval_h: float = setting(
        8.0, doc="hours between doses (HDIL-2 q8h, clinical.md 'The therapy')", min=1, max=48
    )
    max_doses: int = setting(14, doc="doses per cycle (at most 14, clinical.md)", min=1, max=28)


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
        30.0,
        doc="desaturation needs SpO2 below hold_spo2_pct this long (and the SatSeconds "
        "integral at satseconds_limit): Dartmouth surveillance paged only after a limit "
        "had been breached > 30 s (Taenzer 2010, clinical.md 'Alarm practice'); an "
        "unflagged dip of <= 20 s does not alert, a sustained SpO2 of 86 % does within 60 s",
        min=0,
        max=3600,
    )
    desaturation_suspect_min_s: float = setting(
        120.0,
        doc="a desaturation with motion evidence (device flags, an erratic pulse, PI "
        "collapse, a fall faster than physiology) within desaturation_evidence_s needs "
        "this long (this project's choice, 4 x desaturation_min_s; alarm validation "
        "against a second signal, Charbonnier & Gentil 2010, signal-processing.md)",
        min=0,
        max=3600,
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
        20.0,
        doc="an SpO2 fall of this many points within 2 s is faster than physiology (issue "
        "12) and is motion evidence for desaturation",
        min=5,
        max=50,
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


@dataclass(frozen=True, slots=True)
class StorageConfig:
    state_dir: str = setting(
        "/var/lib/capleak", doc="outbox and persistent counters (systemd StateDirectory)"
    )
    outbox_max_messages: int = setting(
        200_000,
        doc="outbox bound; oldest vitals are dropped first, never alerts",
        min=100,
        max=50_000_000,
    )
    fault_after_errors: int = setting(
        5,
        doc="consecutive processing or storage errors that raise agent_fault and stop petting "
        "the systemd watchdog (so systemd restarts the agent); 5 as systemd's "
        "DefaultStartLimitBurst (systemd-system.conf(5)): one error is transient, five in a "
        "row are not",
        min=1,
        max=1000,
    )
    seq_reserve: int = setting(
        100,
        doc="seq numbers reserved per write of the `seq` file beside the outbox (fsync'd): a "
        "damaged or emptied outbox then never hands out a seq twice; at the default 1 s "
        "vitals batch about one small file write a minute, next to one fsync per message",
        min=1,
        max=1_000_000,
    )
    alert_backlog_max: int = setting(
        1000,
        doc="alert events held in memory while the outbox cannot store them (then the oldest "
        "are dropped and counted); a simulated day-long CLS course raises a few dozen",
        min=10,
        max=100_000,
    )
    core_state_interval_s: float = setting(
        60.0,
        doc="save the core's state (baselines, doses, conditions, trends) at most this often, "
        "real seconds, and at once on every alert event, dose or baseline command and on stop; "
        "as publish.trends_interval_s: a crash loses at most a minute of learning-window sums",
        min=1,
        max=3600,
    )
    core_state_max_age_h: float = setting(
        24.0,
        doc="restore a saved core state only if it is younger; an older one is from another "
        "admission or cycle (HD IL-2: days 1-5, rest days 6-14; clinical.md, Proleukin "
        "dosage) whose baselines are not this patient's pre-treatment values",
        min=0,
        max=24 * 14,
    )


@dataclass(frozen=True, slots=True)
class PublishConfig:
    vitals_batch_s: float = setting(1.0, doc="batch vitals over this period", min=0, max=60)
    trends_interval_s: float = setting(60.0, doc="period of trends summaries", min=1, max=3600)
    status_interval_s: float = setting(
        60.0,
        doc="republish the retained status (health counters) this often, real seconds; as "
        "trends_interval_s, so a station's view of the agent's health is at most a minute old",
        min=1,
        max=3600,
    )
    renotify_min: float = setting(
        5.0, doc="re-notify an unacknowledged high-priority alert this often", min=0.5, max=120
    )


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """The wall clock and the timed checks (``docs/agent.md``, "Time")."""

    step_s: float = setting(
        1.0,
        doc="a change of the wall clock against the monotonic clock larger than this is a "
        "step (logged, status.faults.clock); 1 s as chrony's recommended `makestep 1 3`, "
        "which slews smaller offsets (at most 500 ppm for ntpd: never near this)",
        min=0.1,
        max=3600,
    )
    slew: float = setting(
        0.5,
        doc="after a step, the core's clock for its timed checks (NIBP overdue, pre-dose "
        "check) converges to the wall clock at most this many seconds per second: the "
        "checks run at 0.5-1.5 x speed meanwhile, never all at once and never stalled; a "
        "1 h step is absorbed in 2 h",
        min=0.01,
        max=0.9,
    )


@dataclass(frozen=True, slots=True)
class CommandsConfig:
    """Checks on commands from the central station (``docs/security.md``, "Commands")."""

    max_age_s: float = setting(
        300.0,
        doc="refuse a command whose `time` is older (RFC 4120 allows 5 min of clock skew)",
        min=5,
        max=86400,
    )
    max_future_s: float = setting(
        300.0,
        doc="refuse a command whose `time` is this far in the future (RFC 4120: 5 min)",
        min=1,
        max=86400,
    )
    replay_window_s: float = setting(
        86400.0,
        doc="remember command msg_ids this long (SQLite, survives a restart); >= max_age_s",
        min=60,
        max=30 * 86400,
    )
    dose_max_age_h: float = setting(
        24.0,
        doc="refuse dose.given_at older than this (3 doses back at HDIL-2 q8h, clinical.md)",
        min=1,
        max=168,
    )
    queue_size: int = setting(
        64, doc="commands waiting to be handled; more are dropped and counted", min=1, max=10_000
    )
    max_bytes: int = setting(
        4096, doc="refuse a larger command body (a valid one is under 1 KiB)", min=512, max=65536
    )
    replies_per_s: float = setting(
        20.0, doc="error replies per second; more are dropped and counted", min=0.1, max=10_000
    )


@dataclass(frozen=True, slots=True)
class Config:
    bed: BedConfig
    devices: tuple[DeviceConfig, ...] = ()
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    patient: PatientConfig = field(default_factory=PatientConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    storage: StorageConfig = field(default_factory=StorageConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    source: str | None = None

    @property
    def topic_root(self) -> str:
        return f"capleak/v1/{self.bed.site}/{self.bed.unit}/{self.bed.bed}"

    def device(self, device_id: str) -> DeviceConfig:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)


_SECTIONS: Mapping[str, type] = {
    "bed": BedConfig,
    "broker": BrokerConfig,
    "patient": PatientConfig,
    "thresholds": Thresholds,
    "storage": StorageConfig,
    "publish": PublishConfig,
    "commands": CommandsConfig,
    "clock": ClockConfig,
}


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "a whole number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is list:
        return "a list"
    if tp is dict:
        return "a table"
    return str(tp)


def _coerce(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"must be a number, got {value!r}")
        value = float(value)
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be a whole number, got {value!r}")
    elif tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
    elif tp is str:
        if isinstance(value, int | float) and not isinstance(value, bool) and meta.get("choices"):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
    elif tp in (list, dict) and not isinstance(value, tp):
        raise ConfigError(key, f"must be {_type_name(tp)}, got {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and ((lo is not None and value < lo) or (hi is not None and value > hi))
    ):
        raise ConfigError(key, f"must be between {lo:g} and {hi:g}, got {value!r}")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    pattern = meta.get("pattern")
    if pattern is not None and not pattern.match(value):
        raise ConfigError(
            key, f"must be 1-64 letters, digits, '_', '.' or '-' (no '/', '+', '#'), got {value!r}"
        )
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix, f"must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{prefix}.{key}", f"unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name in data:
            kwargs[name] = _coerce(key, data[name], hints[name], f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(key, "is required")
    return cls(**kwargs)


def _check_thresholds(t: Thresholds) -> None:
    steps = t.weight_gain_pct
    if (
        len(steps) != 3
        or not all(isinstance(s, int | float) and not isinstance(s, bool) for s in steps)
        or not 0 < steps[0] < steps[1] < steps[2]
    ):
        raise ConfigError(
            "thresholds.weight_gain_pct",
            f"must be three increasing positive numbers, got {steps!r}",
        )
    if t.tachycardia_high_bpm <= t.tachycardia_bpm:
        raise ConfigError(
            "thresholds.tachycardia_high_bpm", "must be above thresholds.tachycardia_bpm"
        )
    if t.hold_hr_absolute_bpm <= t.hold_hr_relative_bpm:
        raise ConfigError(
            "thresholds.hold_hr_absolute_bpm", "must be above thresholds.hold_hr_relative_bpm"
        )
    if t.bp_projection_release > t.bp_projection_confidence:
        raise ConfigError(
            "thresholds.bp_projection_release",
            "must not be above thresholds.bp_projection_confidence",
        )
    if t.spo2_plausible_min_pct >= t.hold_spo2_pct:
        raise ConfigError(
            "thresholds.spo2_plausible_min_pct", "must be below thresholds.hold_spo2_pct"
        )


def redact_url(url: str) -> str:
    """``url`` fit for an error message or a log: any user information becomes ``***``.

    Everything between ``://`` and the last ``@`` goes, also in a URL too malformed
    to parse (a password may hold ``/``, ``:`` or ``#``).

    >>> redact_url("mqtt://bed7:s3cret@broker:bad")
    'mqtt://***@broker:bad'
    >>> redact_url("mqtts://broker.example:8883")
    'mqtts://broker.example:8883'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _check_broker(b: BrokerConfig) -> None:
    parts = urlsplit(b.url)
    shown = redact_url(b.url)
    if parts.scheme not in ("mqtt", "mqtts", "ws", "wss"):
        raise ConfigError("broker.url", f"scheme must be mqtt, mqtts, ws or wss, got {shown!r}")
    if parts.password:
        raise ConfigError("broker.url", "must not carry a password: use broker.credentials_file")
    if not parts.hostname:
        raise ConfigError("broker.url", f"has no host: {shown!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError("broker.url", f"has a bad port: {shown!r}") from None
    if (b.cert_file is None) != (b.key_file is None):
        raise ConfigError(
            "broker.cert_file" if b.cert_file is None else "broker.key_file",
            "cert_file and key_file go together (mTLS)",
        )
    for name in ("ca_file", "cert_file", "key_file", "credentials_file"):
        path = getattr(b, name)
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"broker.{name}", f"cannot read file {path!r}")
    if b.credentials_file is not None:
        check_private(b.credentials_file, "broker.credentials_file")


def check_private(path: str, key: str) -> None:
    """Refuse a secrets file that group or others may access, as ssh refuses such a key."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise ConfigError(key, f"cannot read file {path!r}: {e.strerror}") from None
    if mode & 0o077:
        raise ConfigError(
            key,
            f"{path!r} is accessible by group or others (mode {mode & 0o777:03o}): "
            f"the password in it must be readable by this agent only; run: chmod 600 {path}",
        )


def _check_patient(p: PatientConfig) -> None:
    if p.dose_start is not None:
        try:
            parse_time(p.dose_start)
        except ValueError as e:
            raise ConfigError(
                "patient.dose_start", f"must be an ISO 8601 time with a zone: {e}"
            ) from None


def _check_commands(c: CommandsConfig) -> None:
    if c.replay_window_s < c.max_age_s + c.max_future_s:
        raise ConfigError(
            "commands.replay_window_s",
            "must be at least commands.max_age_s + commands.max_future_s, or a command "
            "still young enough to be accepted could be replayed",
        )


def config_from_dict(
    data: Mapping[str, Any], source: str | None = None, known_drivers: Iterable[str] | None = None
) -> Config:
    """Validate a parsed TOML document into a :class:`Config`."""
    try:
        known = set(_SECTIONS) | {"devices"}
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(key, f"unknown section{hint}")
        if "bed" not in data:
            raise ConfigError("bed", "section is required (site, unit and bed ids)")
        sections = {name: _build(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
        raw_devices = data.get("devices", [])
        if not isinstance(raw_devices, list):
            raise ConfigError("devices", "must be an array of tables ([[devices]])")
        devices: list[DeviceConfig] = []
        drivers = set(known_drivers) if known_drivers is not None else None
        for i, raw in enumerate(raw_devices):
            dev = _build(DeviceConfig, raw, f"devices[{i}]")
            if drivers is not None and dev.driver not in drivers:
                raise ConfigError(
                    f"devices[{i}].driver",
                    f"unknown driver {dev.driver!r}; known: {sorted(drivers)}",
                )
            if any(d.id == dev.id for d in devices):
                raise ConfigError(f"devices[{i}].id", f"duplicate device id {dev.id!r}")
            devices.append(dev)
        _check_thresholds(sections["thresholds"])
        _check_broker(sections["broker"])
        _check_patient(sections["patient"])
        _check_commands(sections["commands"])
        return Config(devices=tuple(devices), source=source, **sections)
    except ConfigError as e:
        if source and e.source is None:
            raise ConfigError(e.key, e.problem, source) from None
        raise


def load_config(path: str | os.PathLike[str], known_drivers: Iterable[str] | None = None) -> Config:
    """Read and validate a TOML config file."""
    src = str(path)
    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError("(file)", f"cannot read {src!r}: {e.strerror}", src) from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("(file)", "is not UTF-8 text", src) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("(syntax)", f"not valid TOML: {e}", src) from None
    return config_from_dict(data, src, known_drivers)


def read_credentials(path: str) -> tuple[str, str | None]:
    """Read ``username``/``password`` from a TOML credentials file (mode 600, see above)."""
    check_private(path, "broker.credentials_file")
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError("broker.credentials_file", f"cannot read {path!r}: {e}") from None
    user = data.get("username")
    if not isinstance(user, str) or not user:
        raise ConfigError("broker.credentials_file", f"{path!r} has no 'username' string")
    password = data.get("password")
    if password is not None and not isinstance(password, str):
        raise ConfigError("broker.credentials_file", f"{path!r}: 'password' must be a string")
    return user, password
