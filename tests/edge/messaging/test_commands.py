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


# -- issue 13, item 8: times, ranges, bounded replies, deep nesting -------------------

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def refusal(name: str, body: dict | bytes, now: float | None = NOW) -> CommandError:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(CommandError) as e:
        parse_command(f"{ROOT}/cmd/{name}", payload, topic_root=ROOT, now=now)
    return e.value


@pytest.mark.parametrize(
    ("when", "ok"),
    [("2025-12-31T23:56:00Z", True), ("2025-12-31T23:54:00Z", False),
     ("2020-01-01T00:00:00Z", False), ("2026-01-01T00:04:00Z", True),
     ("2026-01-01T00:06:00Z", False)],
)  # fmt: skip
def test_command_time_is_checked_for_age_and_future_skew(when, ok) -> None:
    body = {"msg_id": "m-1", "alert": "hypotension", "time": when}
    if ok:
        parse_command(f"{ROOT}/cmd/ack", json.dumps(body).encode(), topic_root=ROOT, now=NOW)
    else:
        e = refusal("ack", body)
        assert e.code == "refused" and "clock" in e.message
        assert e.request_id == "m-1"  # the station can tell which request was refused


@pytest.mark.parametrize(
    ("given_at", "ok"),
    [("1970-01-01T00:00:00Z", False), ("9999-12-31T23:59:59Z", False),
     ("2025-12-30T23:00:00Z", False), ("2025-12-31T01:00:00Z", True),
     ("2026-01-01T00:01:00Z", True)],
)  # fmt: skip
def test_dose_given_at_is_within_a_day_back_and_the_skew_ahead(given_at, ok) -> None:
    if ok:
        payload = json.dumps({"given_at": given_at}).encode()
        parse_command(f"{ROOT}/cmd/dose", payload, topic_root=ROOT, now=NOW)
    else:
        assert refusal("dose", {"given_at": given_at}).code == "refused"


@pytest.mark.parametrize(
    ("signal", "value"),
    [("spo2", 400), ("spo2", 100.5), ("weight", 1e-300), ("weight", 1.9), ("weight", 400.1),
     ("sbp", 400), ("sbp", 20), ("map", 5)],
)  # fmt: skip
def test_absurd_baselines_are_refused_by_the_schema(signal, value) -> None:
    body = {"signal": signal, "value": value}
    assert refusal("baseline", body).code == "bad_schema"
    assert not jsonschema.Draft202012Validator(load_schema("cmd-baseline")).is_valid(body)


def test_baseline_ranges_in_the_schema_are_the_patient_baseline_settings() -> None:
    import dataclasses

    from edge.config import PatientConfig

    meta = {f.name: f.metadata for f in dataclasses.fields(PatientConfig)}
    setting = {"weight": "baseline_weight_kg", "sbp": "baseline_sbp_mmhg",
               "map": "baseline_map_mmhg", "spo2": "baseline_spo2_pct"}  # fmt: skip
    rules = load_schema("cmd-baseline")["allOf"]
    found = {
        r["if"]["properties"]["signal"]["enum"][0]: r["then"]["properties"]["value"] for r in rules
    }
    assert set(found) == set(setting)
    for signal, name in setting.items():
        assert (found[signal]["minimum"], found[signal]["maximum"]) == (
            meta[name]["min"],
            meta[name]["max"],
        )


def test_a_huge_unknown_key_is_named_but_not_echoed() -> None:
    from edge.config import CommandsConfig

    big = json.dumps({"alert": "hypotension", "k" * 10_000_000: 1}).encode()
    e = refusal("ack", big)  # the default max_bytes refuses it unread
    assert e.code == "bad_json" and len(e.message) < 100
    limits = CommandsConfig(max_bytes=65536)
    body = json.dumps({"alert": "hypotension", "k" * 60_000: 1}).encode()
    with pytest.raises(CommandError) as err:
        parse_command(f"{ROOT}/cmd/ack", body, topic_root=ROOT, limits=limits)
    assert err.value.code == "bad_schema"
    assert "unexpected property 'kkkk" in err.value.message
    assert "(60000 chars)" in err.value.message and len(err.value.message) <= 300


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deep_nesting_is_bad_json_not_an_internal_error(depth) -> None:
    from edge.config import CommandsConfig

    limits = CommandsConfig(max_bytes=65536)
    for payload in (b"[" * depth, b'{"alert": ' + b"[" * depth + b"]" * depth + b"}"):
        with pytest.raises(CommandError) as e:
            parse_command(f"{ROOT}/cmd/ack", payload, topic_root=ROOT, limits=limits)
        assert e.value.code in ("bad_json", "bad_schema"), e.value.message


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_garbage_is_refused_with_a_code_and_a_bounded_message(payload) -> None:
    try:
        parse_command(f"{ROOT}/cmd/silence", payload, topic_root=ROOT, now=NOW)
    except CommandError as e:
        assert e.code in ("bad_json", "bad_schema", "refused", "wrong_bed")
        assert len(e.message) <= 300
