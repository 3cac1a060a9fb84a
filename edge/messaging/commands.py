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
  subscription, so it is never obeyed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

COMMAND_NAMES = ("ack", "silence", "dose", "baseline")


class CommandError(Exception):
    """A refused command; ``code`` is one of the reply's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        return f"{at}: must be one of {s['enum']}"
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
            if key in props:
                problem = _check(item, props[key], root, f"{at}.{key}")
            elif extra is False:
                problem = f"{at}: unexpected property {key!r}"
            elif isinstance(extra, dict):
                problem = _check(item, extra, root, f"{at}.{key}")
            else:
                problem = None
            if problem:
                return problem
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_command(
    topic: str, payload: bytes, *, topic_root: str, retained: bool = False
) -> Command:
    """Validate one command message for the bed whose topics start with ``topic_root``."""
    prefix = f"{topic_root}/cmd/"
    if not topic.startswith(prefix):
        raise CommandError("wrong_bed", f"{topic!r} is not a command topic of this bed")
    name = topic[len(prefix) :]
    if name not in COMMAND_NAMES:
        raise CommandError(
            "unknown_command", f"unknown command {name!r}; known: {', '.join(COMMAND_NAMES)}"
        )
    if retained:
        raise CommandError("retained", "retained commands are never obeyed; publish without retain")
    try:
        body = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        raise CommandError("bad_json", f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise CommandError("bad_json", "the command must be a JSON object")
    schema = load_schema(f"cmd-{name}")
    if problem := check(body, schema):
        raise CommandError("bad_schema", problem)
    bed = topic_root.split("/", 2)[2]
    if "bed" in body and body["bed"] != bed:
        raise CommandError("wrong_bed", f"command for bed {body['bed']!r} reached bed {bed!r}")
    common = ("msg_id", "by", "bed", "time")
    return Command(
        name=name,
        args={k: v for k, v in body.items() if k not in common},
        request_id=body.get("msg_id"),
        by=body.get("by"),
        topic=topic,
        extra={k: body[k] for k in ("bed", "time") if k in body},
    )
