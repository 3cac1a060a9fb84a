"""The core's state across a restart: :func:`snapshot` -> a JSON-able dict -> :func:`restore`.

A restart must not forget what the bed has learned (issue 13, item 6): the
baselines with their source and learn windows (else a restart mid-leak learns
the low blood pressure as the patient's normal), the doses given and the last
one (the schedule and the pre-dose checks), and the alert conditions (else an
alert active at the restart never ends, or a pending one starts its delay
again). The trends, the smoothed pulse, the SatSeconds integral, the scale's
tare offset, the last NIBP cycle and SpO2 minute, and the per-signal timeline
(late readings stay late) come back too, so a restart changes nothing the rules see.

What is *not* kept: partial minute means, a held NIBP outlier, the artifact
filters' short memories (seconds) and the rejection counters (since start).

The core does no I/O: the runtime stores the snapshot (``edge/agent/corestate.py``,
the outbox's state table) and decides whether it is fresh enough to use.

>>> from edge.config import BedConfig, Config
>>> from edge.core import Core
>>> from edge.vocabulary import Reading
>>> core = Core(Config(bed=BedConfig("s", "u", "b")))
>>> _ = core.update(Reading.of("weight", 70.0, time=1_780_000_000.0, source="scale"))
>>> _ = core.dose(1_780_000_100.0)
>>> again = Core.from_snapshot(core.config, snapshot(core))
>>> again.baselines()["weight"], again.schedule.given
({'value': 70.0, 'source': 'learned', 'n': 1, 'spread': 0.0, 'restored': True}, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from edge.core.indicators import Condition
from edge.core.validation import NibpCycle
from edge.vocabulary import AlertCode

if TYPE_CHECKING:
    from edge.core.core import Core

#: Bumped when the layout changes; a snapshot of another version is not restored.
VERSION = 1

_CONDITION = ("rank", "active_since", "_above", "_above_n", "_below", "_below_n")
_TREND = (
    "n",
    "last_time",
    "level",
    "slope_per_h",
    "level_var",
    "slope_var",
    "cov",
    "cusum_hi",
    "cusum_lo",
    "changes",
)
_EXP_AVERAGE = ("value", "last_time")
_SAT_SECONDS = ("total", "last_time", "below", "excursions", "tripped")
_WEIGHT_STEPS = ("last", "last_time", "offset", "held_n", "held_sum", "held_since")
_SCHEDULE = ("given", "last_dose", "checked_due")


def snapshot(core: Core) -> dict[str, Any]:
    """Everything :func:`restore` needs, as plain JSON values (infinities as JSON allows)."""
    rules = core.rules
    sensor_off = rules.sensor_off
    nibp = core.last_nibp
    return {
        "version": VERSION,
        "now": core.now,
        "baselines": core._baselines.snapshot(),
        "schedule": _fields(core.schedule, _SCHEDULE),
        "conditions": {code: _fields(c, _CONDITION) for code, c in rules.conditions.items()},
        "sensor_off": {
            "since": dict(sensor_off._since),
            "conditions": {src: _fields(c, _CONDITION) for src, c in sensor_off.conditions.items()},
        },
        "signal_lost": {
            "last": dict(rules.signal_lost._last),
            "conditions": {
                s: _fields(c, _CONDITION) for s, c in rules.signal_lost.conditions.items()
            },
        },
        "hypotension_cycles": [rules.hypotension.lows, rules.hypotension.normals],
        "nibp_overdue_last": rules.nibp_overdue.last,
        "dose_hold_until": rules.dose_hold.hold_until,
        "satseconds": _fields(rules.desaturation.sat, _SAT_SECONDS),
        "trends": {s: _fields(t, _TREND) for s, t in core.trend.items()},
        "pulse_average": _fields(core._pulse_avg, _EXP_AVERAGE),
        "weight_steps": _fields(core._weight_steps, _WEIGHT_STEPS),
        # [last accepted (t, kg), held (t, kg)], each a pair or null
        "weight_jumps": [
            None if p is None else list(p)
            for p in (core._weight_jumps.last, core._weight_jumps.held)
        ],
        "timeline": dict(core._timeline.last),
        "last_nibp": None
        if nibp is None
        else [nibp.time, nibp.source, nibp.sbp, nibp.map, nibp.dbp, nibp.map_derived],
        "spo2_minute": None if core._spo2_minute is None else list(core._spo2_minute),
    }


def restore(core: Core, data: Mapping[str, Any]) -> None:
    """Put a :func:`snapshot` into a *fresh* ``core``; ValueError when it does not fit.

    On an error the core is half restored: use :meth:`Core.from_snapshot`, which
    throws such a core away. Conditions are matched by code, sensor_off ones by
    device, trends by signal, so a rule added or removed since the snapshot is
    simply fresh.
    """
    if not isinstance(data, Mapping) or data.get("version") != VERSION:
        got = data.get("version") if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"core state version {got!r}, expected {VERSION}")
    try:
        _restore(core, data)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ValueError(f"core state does not fit: {type(e).__name__}: {e}") from None


def _restore(core: Core, data: Mapping[str, Any]) -> None:
    rules = core.rules
    core._baselines.restore(data["baselines"])
    _load(core.schedule, data["schedule"], _SCHEDULE)
    for code, values in dict(data["conditions"]).items():
        cond = rules.conditions.get(code)
        if cond is not None:
            _load(cond, values, _CONDITION)
    sensor = dict(data["sensor_off"])
    since = {str(k): float(v) for k, v in dict(sensor["since"]).items()}
    conditions = dict(sensor["conditions"])
    limit = rules.sensor_off.max_sources
    if len(since) > limit or len(conditions) > limit:
        raise ValueError(f"more than {limit} sensor_off devices")
    rules.sensor_off._since.update(since)
    for src, values in conditions.items():
        cond = Condition(AlertCode.SENSOR_OFF, source=str(src))
        _load(cond, values, _CONDITION)
        rules.sensor_off._conditions[str(src)] = cond
    _load(rules.desaturation.sat, data["satseconds"], _SAT_SECONDS)
    lost = data.get("signal_lost")  # (issue 12; absent from older snapshots)
    if lost is not None:
        rules.signal_lost.restore(
            {str(k): float(v) for k, v in dict(lost["last"]).items()},
            dict(lost["conditions"]),
            lambda cond, values: _load(cond, values, _CONDITION),
        )
    cycles = data.get("hypotension_cycles")
    if cycles is not None:
        rules.hypotension.lows, rules.hypotension.normals = int(cycles[0]), int(cycles[1])
    for signal, values in dict(data["trends"]).items():
        if signal in core.trend:
            _load(core.trend[signal], values, _TREND)
    _load(core._pulse_avg, data["pulse_average"], _EXP_AVERAGE)
    _load(core._weight_steps, data["weight_steps"], _WEIGHT_STEPS)
    jumps = data.get("weight_jumps")  # absent in a snapshot from before the gate
    if jumps is not None:
        j_last, j_held = (None if p is None else (float(p[0]), float(p[1])) for p in jumps)
        core._weight_jumps.last, core._weight_jumps.held = j_last, j_held
    last = core._timeline.last
    last.update({str(k): float(v) for k, v in dict(data["timeline"]).items() if k in last})
    nibp = data["last_nibp"]
    if nibp is not None:
        t, src, sbp, mean, dbp, derived = nibp
        core.last_nibp = NibpCycle(
            float(t), str(src), _opt(sbp), _opt(mean), _opt(dbp), bool(derived)
        )
    minute = data["spo2_minute"]
    core._spo2_minute = None if minute is None else (float(minute[0]), float(minute[1]))
    rules.nibp_overdue.last = _opt(data["nibp_overdue_last"])
    rules.dose_hold.hold_until = float(data["dose_hold_until"])
    # ``now`` (the latest reading time) is informational: the clock after the restart
    # decides when timed checks run.


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def _fields(obj: object, names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        v = getattr(obj, name)
        out[name] = list(v) if isinstance(v, tuple | list) else v
    return out


def _load(obj: object, data: Mapping[str, Any], names: Iterable[str]) -> None:
    """Set each of ``names`` from ``data`` with the type the attribute has now."""
    values = dict(data)
    for name in names:
        if name not in values:
            continue
        setattr(obj, name, _like(getattr(obj, name), values[name], name))


def _like(current: Any, value: Any, name: str) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true/false, got {value!r}")
        return value
    if isinstance(current, tuple | list):
        if not isinstance(value, list) or len(value) != len(current):
            raise ValueError(f"{name}: expected {len(current)} values, got {value!r}")
        items = [_like(c, v, name) for c, v in zip(current, value, strict=True)]
        return tuple(items) if isinstance(current, tuple) else items
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        return value
    if value is None:
        return None  # optional numbers (last_dose, active_since, the pulse average, ...)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"{name}: NaN")
    return float(value)
