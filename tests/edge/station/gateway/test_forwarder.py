"""The forwarder and its store, without MQTT: schema checks, de-duplication, the
alert list reconciliation, the ``continue`` ticker, the store's bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.station.gateway.forwarder import Forwarder, Outputs
from edge.station.gateway.store import Store
from edge.vocabulary import iso_time
from tests.edge.station.gateway.support import T0, obx_values
from tests.edge.station.gateway.test_hl7v2 import ALERT, VITALS

TOPIC = "capleak/v1/h1/icu/b3/"


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "gw.sqlite3", max_messages=100)
    yield s
    s.close()


def drain(store: Store, channel: str = "hl7") -> list[str]:
    out = []
    while (row := store.head(channel)) is not None:
        out.append(row.body)
        store.delete(row.id)
    return out


def alert_msg(seq: int, **fields) -> bytes:
    body = {"msg_id": f"m{seq}", "seq": seq, "time": iso_time(T0 + seq), "alert": ALERT | fields}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[1]",
        b'{"msg_id": "a", "seq": 1, "time": "2026-01-01T00:00:00Z", "readings": [NaN]}',
        json.dumps({**VITALS, "extra": 1}).encode(),
        json.dumps({**VITALS, "time": "2026-13-45T99:00:00Z"}).encode(),
        json.dumps({**VITALS, "readings": [{**VITALS["readings"][0], "unit": "kg"}]}).encode(),
    ],
)
def test_bad_payloads_are_skipped_never_forwarded(store: Store, payload: bytes) -> None:
    fw = Forwarder(store)
    outcome = fw.receive(TOPIC + "vitals", payload, T0)
    assert outcome in ("invalid", "ignored")
    assert store.depth() == 0


def test_duplicates_and_foreign_topics(store: Store) -> None:
    fw = Forwarder(store, outputs=Outputs("dir"), filter="h1/icu")
    body = json.dumps(VITALS).encode()
    assert fw.receive(TOPIC + "vitals", body, T0) == "forwarded"
    assert fw.receive(TOPIC + "vitals", body, T0) == "duplicate"
    assert fw.receive("capleak/v1/h2/icu/b1/vitals", body, T0) == "ignored"
    assert fw.receive(TOPIC + "trends", body, T0) == "ignored"
    assert (store.depth("hl7"), store.depth("fhir")) == (1, 1)
    assert fw.subscriptions()[0] == "capleak/v1/h1/icu/+/vitals"


def test_continue_every_period_until_the_alert_ends(store: Store) -> None:
    fw = Forwarder(store, continue_s=30)
    fw.receive(TOPIC + "alerts", alert_msg(1), T0)
    assert fw.tick(T0 + 29) == 0
    assert fw.tick(T0 + 30) == 1
    assert fw.tick(T0 + 31) == 0
    fw.receive(TOPIC + "alerts", alert_msg(2, phase="update", inactivation="acknowledged"), T0 + 40)
    assert fw.tick(T0 + 60) == 0 and fw.tick(T0 + 70) == 1
    fw.receive(TOPIC + "alerts", alert_msg(3, phase="end", state="inactive"), T0 + 80)
    assert fw.tick(T0 + 500) == 0
    got = [obx_values(m) for m in drain(store)]
    assert [(m["68481"], m["68483"]) for m in got] == [
        ("start", "enabled"),
        ("continue", "enabled"),
        ("update", "alert-acknowledged"),
        ("continue", "alert-acknowledged"),
        ("end", "enabled"),
    ]


def test_the_active_list_reconciles_with_the_alert_book(store: Store) -> None:
    fw = Forwarder(store)
    entry = {k: v for k, v in ALERT.items() if k not in ("phase", "event_time")}
    listed = {"msg_id": "l1", "seq": 10, "time": iso_time(T0), "alerts": [entry]}
    assert fw.receive(TOPIC + "alerts/active", json.dumps(listed).encode(), T0) == "forwarded"
    assert [obx_values(m)["68481"] for m in drain(store)] == ["start"]  # seen for the first time
    fw.receive(TOPIC + "alerts", alert_msg(12, alert_id="a9"), T0)
    stale = {**listed, "msg_id": "l2", "seq": 11}
    assert fw.receive(TOPIC + "alerts/active", json.dumps(stale).encode(), T0) == "stale"
    empty = {**listed, "msg_id": "l3", "seq": 13, "alerts": []}
    fw.receive(TOPIC + "alerts/active", json.dumps(empty).encode(), T0)
    got = [obx_values(m)["68481"] for m in drain(store)]
    assert got == ["start", "end", "end"]  # a9's start; both ended unseen
    assert store.tracked() == []


def test_the_store_is_bounded_dropping_vitals_never_alerts(store: Store) -> None:
    fw = Forwarder(store)
    fw.receive(TOPIC + "alerts", alert_msg(1), T0)
    for i in range(150):
        fw.receive(TOPIC + "vitals", json.dumps({**VITALS, "msg_id": f"v{i}"}).encode(), T0)
    assert store.depth() == 100
    assert store.counters()["drops"] == 51
    assert store.head("hl7").kind == "alert"


def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    s = Store(tmp_path / "gw.sqlite3")
    Forwarder(s).receive(TOPIC + "alerts", alert_msg(1), T0)
    s.close()
    s = Store(tmp_path / "gw.sqlite3")
    assert s.depth("hl7") == 1 and len(s.tracked()) == 1
    assert Forwarder(s).receive(TOPIC + "alerts", alert_msg(1), T0) == "duplicate"
    s.close()
