"""No stored row and no command can block the outbox (issue 13 item 1), with a real broker."""

from __future__ import annotations

import json
import sqlite3

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.messaging.alerts import AlertBook, apply_command
from edge.messaging.mqtt import topic_name_problem
from edge.messaging.outbox import Outbox, Outgoing
from edge.messaging.publisher import Publisher
from edge.vocabulary import Alert, Reading
from tests.edge.messaging.support import bed_config, validate
from tests.edge.messaging.test_publisher import Station, by_topic
from tests.support import Collector, Mosquitto, wait_for

T0 = 1_767_225_600.0


def response_topic(topic: str) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = topic
    return props


def test_a_wildcard_response_topic_is_refused_and_the_bed_keeps_publishing(
    mosquitto: Mosquitto, tmp_path
) -> None:
    """The issue's `mosquitto_pub -V mqttv5 ... -D publish response-topic 'a/#'`."""
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    book = AlertBook()
    book.update(Alert("hypotension", "high", "physiological", "start", T0, "SBP 85"))
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    station = Station(mosquitto)
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box, on_command=lambda c: apply_command(book, c, T0 + 1)[0]).start()
        try:
            assert pub.wait_connected(10)
            ack = f"{cfg.topic_root}/cmd/ack"
            station.send(ack, b'{"alert": "x"}', props=response_topic("a/#"))
            station.send(ack, b'{"alert": "x"}', props=response_topic("a/+/b"))
            # commands still work, and so do vitals and alerts behind them
            station.send(ack, b'{"alert": "hypotension"}', props=response_topic("station/replies"))
            wait_for(lambda: station.replies, 5, message="the valid command's reply")
            assert [m.topic for m in station.replies] == ["station/replies"]
            pub.add_readings([Reading.of("spo2", 97, time=T0)])
            events = book.update(Alert("desaturation", "high", "physiological", "start", T0, "x"))
            pub.publish_alerts(events, book.active())
            assert pub.wait_idle(5), "the outbox is blocked"
            wait_for(lambda: by_topic(col, "vitals") and by_topic(col, "alerts"), 5)
            assert box.depth() == 0 and box.dead_letters() == 0
            pub.publish_status()
            wait_for(lambda: by_topic(col, "status")[-1].get("dropped"), 5, message="status")
            status = [m for m in col.messages if m.topic.endswith("/status")][-1]
            body = validate(status.topic, status.payload)
            assert body["dropped"] == {"commands_bad_response_topic": 2}
        finally:
            pub.stop()
            station.close()
            col.close()


def test_a_row_paho_refuses_is_dead_lettered_and_the_rows_behind_it_are_delivered(
    mosquitto: Mosquitto, tmp_path
) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    vitals = f"{cfg.topic_root}/vitals"
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        box.put_many(
            Outgoing(
                vitals, {"readings": [Reading.of("spo2", 90 + i, time=T0).to_dict()]}, "vitals"
            )
            for i in range(3)
        )
    # A row stored by an older version (or a damaged file) with a topic paho refuses.
    con = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
    con.execute("UPDATE outbox SET topic = 'a/#' WHERE seq = 2")
    con.commit()
    con.close()
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        box.put(vitals, {"readings": []}, kind="vitals")  # 4
        pub = Publisher(cfg, box).start()
        try:
            assert pub.wait_connected(10)
            assert pub.wait_idle(5), "the outbox is blocked"
            wait_for(lambda: len(by_topic(col, "vitals")) == 3, 5, message="rows 1, 3, 4")
            assert [v["seq"] for v in by_topic(col, "vitals")] == [1, 3, 4]
            assert box.dead_letters() == 1 and box.depth() == 0
            pub.publish_status()
            wait_for(lambda: by_topic(col, "status")[-1].get("dead_letters") == 1, 5)
        finally:
            pub.stop()
            col.close()
        (row,) = box._db.execute("SELECT seq, topic, reason FROM dead_letter").fetchall()
        assert row[:2] == (2, "a/#") and "wildcard" in row[2]


@pytest.mark.parametrize(
    "topic",
    ["", "a/#", "#", "+/x", "a\0b", "$SYS/x", "a\nb", "a\x85b", "x" * 65_536, "\ud800"],
)
def test_invalid_topic_names_are_refused_before_storing(tmp_path, topic) -> None:
    assert topic_name_problem(topic)
    with Outbox(tmp_path / "o.sqlite3") as box:
        with pytest.raises(ValueError, match="cannot publish to topic"):
            box.put(topic, {}, kind="reply")
        assert box.depth() == 0 and box.last_seq == 0


@pytest.mark.parametrize("topic", ["a", "st/replies/é", "/", "a//b", "x" * 65_535])
def test_valid_topic_names_pass(topic) -> None:
    assert topic_name_problem(topic) is None


def test_status_is_schema_valid_with_health_fields() -> None:
    body = {
        "msg_id": "m",
        "seq": 1,
        "time": "2026-01-01T00:00:00Z",
        "state": "online",
        "boot_id": "b",
        "dead_letters": 0,
        "errors": {"storage": 1},
        "dropped": {"vitals": 3},
        "faults": {"storage": "disk I/O error"},
    }
    validate("capleak/v1/s/u/b/status", json.dumps(body).encode())
