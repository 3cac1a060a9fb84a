"""Commands from the central station: parsing, checking, and the schemas they obey.

A command arrives on ``capleak/v1/{site}/{unit}/{bed}/cmd/<name>`` with a JSON
object body; ``<name>`` is one of :data:`COMMAND_NAMES` (``ack``, ``silence``,
``dose``, ``baseline``). Its schema is ``edge/messaging/schemas/cmd-<name>.json``, the same
file the tests validate against with ``jsonschema``. At run time capleak does not
depend on ``jsonschema``: :func:`check` below interprets the small subset of JSON
Schema those files use (``type``, ``properties``, ``required``,
``additionalProperties``, ``enum``, ``minimum``/``maximum``/``exclusiveMinimum``,
``minLength``/``maxLength``, ``pattern``, ``items``/``minItems``, local ``$ref``);
a test checks that both agree on generated documents.

:func:`parse_command` refuses, with a :class:`CommandError` whose ``code`` goes
into the error reply (``edge/messaging/schemas/cmd-reply.json``):

* ``bad_json``: not UTF-8 JSON, or not an object (NaN/Infinity count as bad);
* ``bad_schema``: the object does not match the command's schema;
* ``unknown_command``: no such ``<name>``;
* ``wrong_bed``: the topic is not this bed's own ``cmd/`` topic, or the body's
  ``bed`` names another bed;
* ``retained``: a retained command (it would be replayed to every new
  subscription, so it is never obeyed);
* ``refused``: (with ``now``) the command's ``time`` is older than
  ``commands.max_age_s`` or further ahead than ``commands.max_future_s``, or a
  ``dose.given_at`` / ``baseline.measured_at`` is out of its window.

Nothing from the input is echoed unbounded: names and values quoted in a message
are cut to :data:`QUOTE_CHARS` characters, a message to :data:`MESSAGE_CHARS`. A
body over ``commands.max_bytes`` is refused before it is parsed, and nesting too
deep for the parser is ``bad_json``, never an internal error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from edge.config import CommandsConfig
from edge.vocabulary import iso_time, parse_time

COMMAND_NAMES = ("ack", "silence", "dose", "baseline")


#: At most this many characters of an input name or value are quoted in a reply or log.
QUOTE_CHARS = 64
#: An error message (reply and log line) is cut to this many characters.
MESSAGE_CHARS = 300


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was.

    >>> quote("x" * 100, 8)
    "'xxxxxxx... (100 chars)"
    """
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[: limit - 1]!r}"[:limit] + f"... ({len(value)} chars)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def bounded(message: str, limit: int = MESSAGE_CHARS) -> str:
    """A message cut to ``limit`` characters."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


class CommandError(Exception):
    """A refused command; ``code`` is one of the reply's error codes."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        message = bounded(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id  # the refused command's msg_id, once it could be read


@dataclass(frozen=True, slots=True)
class Command:
    """A validated command for the application (see ``edge.messaging.publisher``)."""

    name: str
    args: Mapping[str, Any]
    request_id: str | None = None
    by: str | None = None
    topic: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in ``edge/messaging/schemas`` (``name`` without ``.json``)."""
    text = resources.files("edge.messaging").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "null": lambda v: v is None,
}


def check(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None
) -> str | None:
    """The first problem with ``value`` against ``schema`` (None when it is valid)."""
    return _check(value, schema, root or schema, "$")


def _check(v: Any, s: Mapping[str, Any], root: Mapping[str, Any], at: str) -> str | None:
    if "$ref" in s:
        ref = s["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return _check(v, target, root, at)
    tp = s.get("type")
    if tp is not None and not _TYPES[tp](v):
        return f"{at}: must be {'an' if tp[0] in 'aeiou' else 'a'} {tp}"
    if "enum" in s and not any(v == e and type(v) is type(e) for e in s["enum"]):
        return f"{at}: must be one of {s['enum']}, got {quote(v)}"
    if isinstance(v, int | float) and not isinstance(v, bool):
        if "minimum" in s and v < s["minimum"]:
            return f"{at}: must be at least {s['minimum']}"
        if "exclusiveMinimum" in s and v <= s["exclusiveMinimum"]:
            return f"{at}: must be above {s['exclusiveMinimum']}"
        if "maximum" in s and v > s["maximum"]:
            return f"{at}: must be at most {s['maximum']}"
    if isinstance(v, str):
        if "minLength" in s and len(v) < s["minLength"]:
            return f"{at}: must have at least {s['minLength']} characters"
        if "maxLength" in s and len(v) > s["maxLength"]:
            return f"{at}: must have at most {s['maxLength']} characters"
        if "pattern" in s and not re.search(s["pattern"], v):
            return f"{at}: does not match {s['pattern']}"
    if isinstance(v, list):
        if "minItems" in s and len(v) < s["minItems"]:
            return f"{at}: must have at least {s['minItems']} items"
        if "items" in s:
            for i, item in enumerate(v):
                if problem := _check(item, s["items"], root, f"{at}[{i}]"):
                    return problem
    if isinstance(v, dict):
        for key in s.get("required", ()):
            if key not in v:
                return f"{at}: {key!r} is required"
        props = s.get("properties", {})
        extra = s.get("additionalProperties", True)
        for key, item in v.items():
            where = f"{at}.{quote(key)[1:-1] if len(key) <= QUOTE_CHARS else quote(key)}"
            if key in props:
                problem = _check(item, props[key], root, where)
            elif extra is False:
                problem = f"{at}: unexpected property {quote(key)}"
            elif isinstance(extra, dict):
                problem = _check(item, extra, root, where)
            else:
                problem = None
            if problem:
                return problem
    for sub in s.get("allOf", ()):
        if problem := _check(v, sub, root, at):
            return problem
    if "if" in s and _check(v, s["if"], root, at) is None and "then" in s:
        return _check(v, s["then"], root, at)
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_command(
    topic: str,
    payload: bytes,
    *,
    topic_root: str,
    retained: bool = False,
    now: float | None = None,
    limits: CommandsConfig | None = None,
) -> Command:
    """Validate one command message for the bed whose topics start with ``topic_root``.

    With ``now`` (the bed's clock), times in the command are checked against
    ``limits`` (default :class:`~edge.config.CommandsConfig`); without it they are not.
    """
    limits = limits or CommandsConfig()
    prefix = f"{topic_root}/cmd/"
    if not topic.startswith(prefix):
        raise CommandError("wrong_bed", f"{quote(topic)} is not a command topic of this bed")
    name = topic[len(prefix) :]
    if name not in COMMAND_NAMES:
        raise CommandError(
            "unknown_command", f"unknown command {quote(name)}; known: {', '.join(COMMAND_NAMES)}"
        )
    if retained:
        raise CommandError("retained", "retained commands are never obeyed; publish without retain")
    if len(payload) > limits.max_bytes:
        raise CommandError(
            "bad_json", f"a command of {len(payload)} bytes is over the {limits.max_bytes} limit"
        )
    try:
        body = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        raise CommandError("bad_json", f"not JSON: {e}") from None
    except RecursionError:
        raise CommandError("bad_json", "not JSON this agent takes: nested too deep") from None
    if not isinstance(body, dict):
        raise CommandError("bad_json", "the command must be a JSON object")
    try:
        return _command(name, body, topic, topic_root, now, limits)
    except CommandError as e:
        msg_id = body.get("msg_id")
        if isinstance(msg_id, str) and 0 < len(msg_id) <= 64:
            e.request_id = msg_id  # the station can match the refusal to its request
        raise


def _command(
    name: str,
    body: dict[str, Any],
    topic: str,
    topic_root: str,
    now: float | None,
    limits: CommandsConfig,
) -> Command:
    schema = load_schema(f"cmd-{name}")
    try:
        problem = check(body, schema)
    except RecursionError:
        problem = "$: nested too deep"
    if problem:
        raise CommandError("bad_schema", problem)
    bed = topic_root.split("/", 2)[2]
    if "bed" in body and body["bed"] != bed:
        raise CommandError("wrong_bed", f"command for bed {body['bed']!r} reached bed {bed!r}")
    times: dict[str, float] = {
        k: _time(body, k) for k in ("time", "given_at", "measured_at") if k in body
    }
    if now is not None:
        _check_times(times, now, limits)
    common = ("msg_id", "by", "bed", "time")
    return Command(
        name=name,
        args={k: v for k, v in body.items() if k not in common},
        request_id=body.get("msg_id"),
        by=body.get("by"),
        topic=topic,
        extra={k: body[k] for k in ("bed", "time") if k in body},
    )


def _time(body: Mapping[str, Any], key: str) -> float:
    try:
        return parse_time(body[key])
    except ValueError:
        raise CommandError("bad_schema", f"$.{key}: not a time: {quote(body[key])}") from None


def _check_times(times: Mapping[str, float], now: float, limits: CommandsConfig) -> None:
    """Refuse stale or future commands and doses or baselines outside their windows."""
    for key, t in times.items():
        if t - now > limits.max_future_s:
            raise CommandError(
                "refused",
                f"{key} {iso_time(t)} is {t - now:.0f} s ahead of this bed's clock "
                f"(limit {limits.max_future_s:g} s); check both clocks (NTP)",
            )
    if "time" in times and now - times["time"] > limits.max_age_s:
        raise CommandError(
            "refused",
            f"command time {iso_time(times['time'])} is {now - times['time']:.0f} s old "
            f"(limit {limits.max_age_s:g} s): stale or replayed; check both clocks (NTP)",
        )
    oldest = now - limits.dose_max_age_h * 3600
    if "given_at" in times and times["given_at"] < oldest:
        raise CommandError(
            "refused",
            f"given_at {iso_time(times['given_at'])} is more than "
            f"{limits.dose_max_age_h:g} h ago (commands.dose_max_age_h)",
        )
