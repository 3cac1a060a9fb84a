"""The board's pure parts: bounded history, tile level/state, the ward's events, auth."""

from __future__ import annotations

import json
import os

import pytest

from edge.config import ConfigError
from edge.station.board.auth import Sessions, hash_password, read_users, set_user
from edge.station.board.history import Series
from edge.station.board.ward import Ward, WardSettings, level_of, state_of

ROOT = "capleak/v1/s1/u1/"


def msg(bed: str, kind: str, seq: int, **body) -> tuple[str, bytes]:
    payload = {"msg_id": f"{bed}-{seq}", "seq": seq, "time": "2026-01-01T00:00:00Z", **body}
    return f"{ROOT}{bed}/{kind}", json.dumps(payload).encode()


def vitals(bed: str, seq: int, t: float, **values: float) -> tuple[str, bytes]:
    readings = [
        {"signal": s, "value": v, "unit": "%", "source": "x", "flags": [], "mdc": 1,
         "mdc_refid": "X", "time": "2026-01-01T00:00:00Z" if t == 0 else str(t)}
        for s, v in values.items()
    ]  # fmt: skip
    return msg(bed, "vitals", seq, readings=readings)


def test_series_memory_is_bounded_whatever_the_rate() -> None:
    s = Series(bucket_s=300, hours=72)
    for i in range(400_000):  # 4.6 days at 1 Hz
        s.add(1_780_000_000 + i, 97 + (i % 3))
    assert s.max_buckets == 864
    assert len(s) <= 2 * 864  # trimmed in chunks
    pts = s.points()
    assert len(pts) == 864
    assert all(97 <= p[2] <= p[1] <= p[3] <= 99 for p in pts)
    assert not s.add(float("nan"), 1) and not s.add(1_780_000_000, float("inf"))


def test_a_late_reading_lands_in_its_bucket_or_nowhere() -> None:
    s = Series(bucket_s=60, hours=1)
    for t in (0, 60, 120):
        s.add(t, 10)
    assert s.add(65, 40) is False  # into the 60 s bucket
    assert s.points()[1] == (60.0, 25.0, 10.0, 40.0)
    assert s.add(-3600, 1) is False and len(s) == 3  # before everything kept: dropped


@pytest.mark.parametrize(
    ("alerts", "level", "state"),
    [
        ([], "none", "normal"),
        ([{"priority": "high", "kind": "physiological", "state": "active",
           "inactivation": "enabled"}], "high", "alarm"),
        ([{"priority": "high", "kind": "physiological", "state": "latched",
           "inactivation": "enabled"}], "high", "latched"),
        ([{"priority": "high", "kind": "physiological", "state": "active",
           "inactivation": "acknowledged"}], "high", "acknowledged"),
        ([{"priority": "medium", "kind": "physiological", "state": "active",
           "inactivation": "audio-paused"}], "medium", "alarm"),
        ([{"priority": "medium", "kind": "technical", "state": "active",
           "inactivation": "enabled"}], "low", "alarm"),
        ([{"priority": "high", "kind": "technical", "state": "active",
           "inactivation": "enabled"}], "high", "alarm"),
    ],
)  # fmt: skip
def test_tile_colour_level_and_state(alerts, level, state) -> None:
    assert level_of(alerts) == level
    assert state_of(True, alerts) == state


def test_the_ward_deduplicates_bounds_beds_and_emits_one_event_per_change() -> None:
    ward = Ward(settings=WardSettings(max_beds=2, subscriber_queue=3))
    sub = ward.subscribe()
    assert sub is not None
    assert ward.receive(*vitals("b1", 1, 1_780_000_000, spo2=97))
    assert ward.receive(*vitals("b1", 1, 1_780_000_000, spo2=97)) is None  # same msg_id
    assert ward.receive(*msg("b2", "status", 5, state="online")) is not None
    assert ward.receive(*msg("b3", "status", 1, state="online")) is None  # over max_beds
    assert ward.counters["beds_refused"] == 1 and ward.counters["duplicates"] == 1
    assert ward.beds() == ["s1/u1/b1", "s1/u1/b2"]
    assert ward.receive(f"{ROOT}b1/vitals", b"{nope") is None and ward.counters["bad"] == 1
    assert sub.events.qsize() == 2 and not sub.overflowed
    for seq in (3, 4):  # seq 2 never arrives: the gap shows on the tile
        ward.receive(*vitals("b1", seq, 1_780_000_000 + seq, spo2=90 + seq))
    assert sub.overflowed  # a slow stream is cut off, never grows without bound
    assert ward.summary("s1/u1/b1")["missing"] == 1
    ward.unsubscribe(sub)
    assert ward.streams() == 0


def test_max_event_streams() -> None:
    ward = Ward(settings=WardSettings(max_subscribers=1))
    assert ward.subscribe() is not None and ward.subscribe() is None


def test_password_file_and_sessions(tmp_path) -> None:
    path = tmp_path / "users"
    set_user(path, "rn-4", "s3cret")
    set_user(path, "rn-5", "other")
    set_user(path, "rn-4", "changed")  # replaced, not added
    users = read_users(path)
    assert sorted(users) == ["rn-4", "rn-5"]
    clock = [0.0]
    sessions = Sessions(users, idle_s=60, max_sessions=2, clock=lambda: clock[0])
    assert sessions.login("rn-4", "s3cret") is None
    assert sessions.login("nobody", "changed") is None
    token, s = sessions.login("rn-4", "changed") or ("", None)
    assert s is not None and s.user == "rn-4" and len(s.csrf) >= 40
    assert sessions.get(token) is s and sessions.get("forged") is None
    clock[0] = 61
    assert sessions.get(token) is None  # idle too long
    tokens = [sessions.login("rn-5", "other")[0] for _ in range(3)]  # type: ignore[index]
    assert sessions.get(tokens[0]) is None and sessions.get(tokens[2]) is not None  # bounded


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no users"),
        ("rn-4 plain\n", "expected NAME:scrypt"),
        ("rn-4:scrypt$1$2\n", "malformed"),
        ("bad user:" + hash_password("x", b"0" * 16) + "\n", "expected NAME:scrypt"),
    ],
)
def test_bad_password_files_are_configuration_errors(tmp_path, text, problem) -> None:
    path = tmp_path / "users"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match=problem):
        read_users(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_users(tmp_path / "missing")


@pytest.mark.parametrize(
    "name",
    ["history", "ward", "auth", "server"],
)
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"edge.station.board.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
