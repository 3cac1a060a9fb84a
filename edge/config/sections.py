"""The configuration's other sections, and :class:`Config` that holds them all."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config.settings import _ID_RE, setting
from edge.config.thresholds import Thresholds


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
