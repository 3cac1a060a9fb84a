"""The shared vocabulary: what every driver, the core and the publisher speak.

Nothing here imports anything else of ours (``shared/docs/style.md``,
"Dependency direction"). A :class:`Reading` is one measured value of one
signal; an :class:`Alert` is one event in an alert's life.

Codes and units come from ``shared/docs/messaging-and-ops.md``, "Codes and
units for vital signs" (IEEE 11073-10101 MDC codes, UCUM units, LOINC codes as
used by the FHIR vital-signs profile). MDC code = partition x 65536 + term code;
the SCADA partition is 2.

>>> r = Reading(time=1_700_000_000.0, signal="spo2", value=97.0, unit="%", source="masimo")
>>> SIGNALS[r.signal].mdc_code
150456
>>> r.with_flags({"artifact"}).flags
frozenset({'artifact'})
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Signal(StrEnum):
    """The quantities capleak understands."""

    SBP = "sbp"
    DBP = "dbp"
    MAP = "map"
    SPO2 = "spo2"
    PULSE = "pulse"
    WEIGHT = "weight"
    PI = "pi"


class Unit(StrEnum):
    """UCUM unit codes."""

    MMHG = "mm[Hg]"
    PERCENT = "%"
    PER_MIN = "/min"
    KG = "kg"


class Flag(StrEnum):
    """Quality flags a device (or the core) attaches to a reading."""

    ARTIFACT = "artifact"
    SENSOR_OFF = "sensor_off"
    NO_SENSOR = "no_sensor"
    LOW_PERFUSION = "low_perfusion"
    SEARCHING = "searching"
    LOW_QUALITY = "low_quality"
    UNSTABLE = "unstable"
    OVERLOAD = "overload"
    #: Set by the core on a MAP computed from SBP/DBP rather than measured.
    DERIVED = "derived"


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """Static facts about one signal: its unit and its standard codes."""

    signal: Signal
    unit: Unit
    mdc_refid: str
    mdc_code: int
    loinc: str
    description: str


#: One table mapping each signal to its IEEE 11073 MDC code and LOINC code
#: (``shared/docs/messaging-and-ops.md``). The perfusion index has no LOINC
#: vital-signs code: its entry is the MDC term only (MDC_PULS_OXIM_PERF_REL,
#: 150448 = 2 x 65536 + 19376) and LOINC is left empty on purpose.
#:
#: ``pi`` is the perfusion number *as the device reports it*, value unchanged:
#: Masimo's PI is a percentage (0.02-20 %); Philips IntelliVue's Perf (the same
#: MDC term) is a relative, dimensionless index (0-10), published under ``pi``
#: with the unit ``%`` of the signal. The two scales are not interchangeable;
#: consumers that compare values read the device (the reading's ``source``).
#: The core uses ``pi`` only for its quality flags (``sensor_off`` and the
#: like), never its value, so the mapping cannot move an alert. A signal of its
#: own (``perf_rel``, UCUM ``1``) needs a core handler first: the core keys its
#: processing on the signal and would reject an unknown one.
SIGNALS: Mapping[str, SignalInfo] = {
    info.signal.value: info
    for info in (
        SignalInfo(
            Signal.SBP,
            Unit.MMHG,
            "MDC_PRESS_BLD_NONINV_SYS",
            150021,
            "8480-6",
            "systolic non-invasive blood pressure",
        ),
        SignalInfo(
            Signal.DBP,
            Unit.MMHG,
            "MDC_PRESS_BLD_NONINV_DIA",
            150022,
            "8462-4",
            "diastolic non-invasive blood pressure",
        ),
        SignalInfo(
            Signal.MAP,
            Unit.MMHG,
            "MDC_PRESS_BLD_NONINV_MEAN",
            150023,
            "8478-0",
            "mean non-invasive blood pressure",
        ),
        SignalInfo(
            Signal.SPO2,
            Unit.PERCENT,
            "MDC_PULS_OXIM_SAT_O2",
            150456,
            "59408-5",
            "oxygen saturation by pulse oximetry",
        ),
        SignalInfo(
            Signal.PULSE,
            Unit.PER_MIN,
            "MDC_PULS_OXIM_PULS_RATE",
            149530,
            "8867-4",
            "pulse rate (oximeter)",
        ),
        SignalInfo(
            Signal.WEIGHT, Unit.KG, "MDC_MASS_BODY_ACTUAL", 188736, "29463-7", "body weight"
        ),
        SignalInfo(
            Signal.PI,
            Unit.PERCENT,
            "MDC_PULS_OXIM_PERF_REL",
            150448,
            "",
            "perfusion index as the device reports it: Masimo PI in %; Philips IntelliVue "
            "Perf, relative and dimensionless (0-10), value unchanged",
        ),
    )
}

UNIT_OF: Mapping[str, str] = {name: info.unit.value for name, info in SIGNALS.items()}
FLAGS: frozenset[str] = frozenset(f.value for f in Flag)


def _check_flags(flags: Iterable[str]) -> frozenset[str]:
    fs = frozenset(flags)
    unknown = fs - FLAGS
    if unknown:
        raise ValueError(f"unknown flag(s) {sorted(unknown)}; known: {sorted(FLAGS)}")
    return fs


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one signal.

    ``time`` is UTC epoch seconds. It is ``None`` only straight out of a
    decoder whose frame carries no time of its own and that was fed no
    receive time; the transport stamps such readings on arrival.
    ``source`` is the device id (the driver name when decoding offline).
    """

    time: float | None
    signal: str
    value: float
    unit: str
    source: str
    flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"unknown signal {self.signal!r}; known: {sorted(SIGNALS)}")
        if self.unit != UNIT_OF[self.signal]:
            raise ValueError(
                f"signal {self.signal!r} is measured in {UNIT_OF[self.signal]!r}, not {self.unit!r}"
            )
        if not isinstance(self.value, int | float) or not math.isfinite(self.value):
            raise ValueError(f"value must be a finite number, got {self.value!r}")
        if not isinstance(self.flags, frozenset):
            object.__setattr__(self, "flags", _check_flags(self.flags))
        else:
            _check_flags(self.flags)

    @classmethod
    def of(
        cls,
        signal: str,
        value: float,
        *,
        time: float | None = None,
        source: str = "",
        flags: Iterable[str] = (),
    ) -> Reading:
        """Build a reading with the signal's canonical unit."""
        return cls(
            time=time,
            signal=signal,
            value=float(value),
            unit=UNIT_OF.get(signal, ""),
            source=source,
            flags=frozenset(flags),
        )

    def stamped(self, time: float) -> Reading:
        """This reading with ``time`` set (kept if the device already stamped it)."""
        return self if self.time is not None else dataclasses.replace(self, time=time)

    def with_flags(self, flags: Iterable[str]) -> Reading:
        return dataclasses.replace(self, flags=self.flags | _check_flags(flags))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the standard codes alongside."""
        info = SIGNALS[self.signal]
        d: dict[str, Any] = {
            "signal": self.signal,
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
            "flags": sorted(self.flags),
            "mdc": info.mdc_code,
            "mdc_refid": info.mdc_refid,
        }
        if info.loinc:
            d["loinc"] = info.loinc
        if self.time is not None:
            d["time"] = iso_time(self.time)
        return d


class Priority(StrEnum):
    """IEC 60601-1-8 alarm priorities (``messaging-and-ops.md``)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"low": 1, "medium": 2, "high": 3}[self.value]


class Kind(StrEnum):
    """IHE ACM alert kinds: SP physiological, ST technical, SA advisory."""

    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    ADVISORY = "advisory"


class Phase(StrEnum):
    """IHE ACM phases used by capleak."""

    START = "start"
    CONTINUE = "continue"
    UPDATE = "update"
    ESCALATE = "escalate"
    DE_ESCALATE = "de-escalate"
    END = "end"


class AlertCode(StrEnum):
    """The fixed alert codes (issue #4). Each code's kind is in :data:`ALERT_KINDS`."""

    HYPOTENSION = "hypotension"
    BP_FALLING = "bp_falling"
    DESATURATION = "desaturation"
    SPO2_FALLING = "spo2_falling"
    WEIGHT_GAIN = "weight_gain"
    TACHYCARDIA = "tachycardia"
    CLS_SUSPECTED = "cls_suspected"
    SENSOR_OFF = "sensor_off"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ONLINE = "device_online"
    NIBP_OVERDUE = "nibp_overdue"
    SIGNAL_LOST = "signal_lost"
    DOSE_HOLD_ADVISED = "dose_hold_advised"
    AGENT_FAULT = "agent_fault"


ALERT_KINDS: Mapping[str, Kind] = {
    AlertCode.HYPOTENSION: Kind.PHYSIOLOGICAL,
    AlertCode.BP_FALLING: Kind.PHYSIOLOGICAL,
    AlertCode.DESATURATION: Kind.PHYSIOLOGICAL,
    AlertCode.SPO2_FALLING: Kind.PHYSIOLOGICAL,
    AlertCode.WEIGHT_GAIN: Kind.PHYSIOLOGICAL,
    AlertCode.TACHYCARDIA: Kind.PHYSIOLOGICAL,
    AlertCode.CLS_SUSPECTED: Kind.PHYSIOLOGICAL,
    AlertCode.SENSOR_OFF: Kind.TECHNICAL,
    AlertCode.DEVICE_OFFLINE: Kind.TECHNICAL,
    AlertCode.DEVICE_ONLINE: Kind.TECHNICAL,
    AlertCode.NIBP_OVERDUE: Kind.TECHNICAL,
    AlertCode.SIGNAL_LOST: Kind.TECHNICAL,
    AlertCode.DOSE_HOLD_ADVISED: Kind.ADVISORY,
    AlertCode.AGENT_FAULT: Kind.TECHNICAL,
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert event: a phase in the life of the alert ``code`` from ``source``.

    ``values`` holds the numbers behind it (e.g. ``{"sbp": 87.0}``).
    ``source`` distinguishes two instances of one code (e.g. two devices
    offline); it is empty for bed-level physiological alerts.
    """

    code: str
    priority: Priority
    kind: Kind
    phase: Phase
    time: float
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "priority", Priority(self.priority))
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "phase", Phase(self.phase))
        if not self.code:
            raise ValueError("alert code must not be empty")

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the alert instance across its events."""
        return (self.code, self.source)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "code": self.code,
            "priority": self.priority.value,
            "kind": self.kind.value,
            "phase": self.phase.value,
            "time": iso_time(self.time),
            "message": self.message,
            "values": dict(self.values),
        }
        if self.source:
            d["source"] = self.source
        return d


def iso_time(t: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with millisecond precision and a ``Z``."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """ISO 8601 with a zone, or epoch seconds, -> epoch seconds.

    >>> parse_time("2026-01-01T00:00:00Z")
    1767225600.0
    >>> parse_time("1767225600")
    1767225600.0
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return dt.timestamp()
