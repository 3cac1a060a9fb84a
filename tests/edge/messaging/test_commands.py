"""Command parsing: the runtime checker agrees with jsonschema on the shipped schemas."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.messaging.commands import COMMAND_NAMES, CommandError, check, load_schema, parse_command

ROOT = "capleak/v1/s1/u1/b1"


def test_every_shipped_schema_is_a_valid_json_schema() -> None:
    names = sorted(
        p.name[:-5]
        for p in resources.files("edge.messaging").joinpath("schemas").iterdir()
        if p.name.endswith(".json")
    )
    assert {f"cmd-{n}" for n in COMMAND_NAMES} <= set(names)
    assert {
        "status",
        "vitals",
        "trends",
        "alert",
        "alerts-active",
        "dose-check",
        "cmd-reply",
    } <= set(names)
    for n in names:
        jsonschema.Draft202012Validator.check_schema(load_schema(n))


# Values near each schema's edges: right and wrong types, limits, patterns.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 1000),
    st.floats(-1, 1000, allow_nan=False),
    st.sampled_from([0, 0.0, 900, 900.5, 1.5, 28, 29]),
    st.sampled_from(
        ["", "hypotension", "Hypotension", "weight", "sbp", "s1/u1/b1", "s1/u1", "x" * 65, "rn-1",
         "2026-01-01T00:00:00Z", "2026-01-01 00:00", "spo2", "a_b"]
    ),
)  # fmt: skip
keys = st.sampled_from(
    ["alert", "source", "duration_s", "given_at", "dose_number", "signal", "value",
     "measured_at", "msg_id", "by", "bed", "time", "extra"]
)  # fmt: skip
bodies = st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=5)


@given(st.sampled_from(COMMAND_NAMES), bodies)
def test_runtime_checker_agrees_with_jsonschema(name, body) -> None:
    schema = load_schema(f"cmd-{name}")
    reference = jsonschema.Draft202012Validator(schema).is_valid(body)
    assert (check(body, schema) is None) == reference, (name, body, check(body, schema))


@given(st.sampled_from(["status", "vitals", "alert", "alerts-active", "cmd-reply"]), bodies)
def test_checker_agrees_on_the_publish_schemas_too(name, body) -> None:
    schema = load_schema(name)
    assert (check(body, schema) is None) == jsonschema.Draft202012Validator(schema).is_valid(body)


def test_a_valid_command_becomes_a_command() -> None:
    body = {"msg_id": "m1", "by": "rn-4", "bed": "s1/u1/b1", "alert": "hypotension"}
    cmd = parse_command(f"{ROOT}/cmd/ack", json.dumps(body).encode(), topic_root=ROOT)
    assert (cmd.name, dict(cmd.args), cmd.request_id, cmd.by) == (
        "ack",
        {"alert": "hypotension"},
        "m1",
        "rn-4",
    )


@pytest.mark.parametrize(
    ("topic", "payload", "code"),
    [
        (f"{ROOT}/cmd/ack", b"", "bad_json"),
        (f"{ROOT}/cmd/ack", b'"ack"', "bad_json"),
        (f"{ROOT}/cmd/ack", b'{"alert": Infinity}', "bad_json"),
        (f"{ROOT}/cmd/baseline", b'{"signal": "pulse", "value": 70}', "bad_schema"),
        (f"{ROOT}/cmd/baseline", b'{"signal": "weight", "value": true}', "bad_schema"),
        (f"{ROOT}/cmd/dose", b'{"given_at": "yesterday"}', "bad_schema"),
        ("capleak/v1/s1/u1/b2/cmd/ack", b'{"alert": "x"}', "wrong_bed"),
        (f"{ROOT}/cmd/ack", b'{"alert": "x", "bed": "s2/u1/b1"}', "wrong_bed"),
        (f"{ROOT}/cmd/shutdown", b"{}", "unknown_command"),
    ],
)
def test_bad_commands_are_refused_with_a_code(topic, payload, code) -> None:
    with pytest.raises(CommandError) as e:
        parse_command(topic, payload, topic_root=ROOT)
    assert e.value.code == code


def test_retained_command_is_refused() -> None:
    with pytest.raises(CommandError) as e:
        parse_command(f"{ROOT}/cmd/dose", b"{}", topic_root=ROOT, retained=True)
    assert e.value.code == "retained"
