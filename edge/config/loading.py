"""Reading and validating the TOML file into a :class:`~edge.config.Config`.

One generic validator walks each field's metadata; the cross-field checks
follow. A problem raises :class:`~edge.config.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge.config.sections import (
    BedConfig,
    BrokerConfig,
    ClockConfig,
    CommandsConfig,
    Config,
    DeviceConfig,
    PatientConfig,
    PublishConfig,
    StorageConfig,
)
from edge.config.settings import ConfigError
from edge.config.thresholds import Thresholds
from edge.vocabulary import parse_time

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
