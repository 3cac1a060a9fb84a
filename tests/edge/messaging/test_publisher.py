"""Publisher against a real mosquitto: topics, retained state, schemas, commands."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.messaging.alerts import AlertBook, apply_command
from edge.messaging.commands import CommandError
from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from edge.vocabulary import Alert, Reading
from tests.edge.messaging.support import bed_config, validate
from tests.support import Collector, Mosquitto, wait_for

T0 = 1_767_225_600.0


def by_topic(col: Collector, suffix: str) -> list[dict]:
    with col._lock:
        msgs = list(col.messages)
    return [json.loads(m.payload) for m in msgs if m.topic.endswith("/" + suffix)]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_every_topic_carries_schema_valid_payloads(
    mosquitto: Mosquitto, tmp_path, protocol
) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state", broker={"protocol": protocol})
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    book = AlertBook(renotify_s=300)
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box, devices=[{"id": "spo2-1", "state": "online"}]).start()
        try:
            assert pub.wait_connected(10)
            pub.add_readings(
                [Reading.of("spo2", 97, time=T0, source="spo2-1"), Reading.of("sbp", 88, time=T0)]
            )
            events = book.update(
                Alert("hypotension", "high", "physiological", "start", T0, "SBP 88", {"sbp": 88})
            )
            pub.publish_alerts(events, book.active())
            pub.publish_dose_check({"type": "dose_check", "hold": True, "reasons": ["sbp"]})
            pub.publish_trends({"type": "trends", "signals": {}})
            assert pub.wait_idle(10)
            wait_for(lambda: by_topic(col, "dose-check") and by_topic(col, "trends"))
        finally:
            pub.stop()
    wait_for(lambda: [s for s in by_topic(col, "status") if s["state"] == "offline"])
    col.close()
    seen = set()
    for m in col.messages:
        validate(m.topic, m.payload)
        seen.add(m.topic.split("/", 5)[5])
    assert seen == {"status", "vitals", "alerts", "alerts/active", "dose-check", "trends"}
    (vitals,) = by_topic(col, "vitals")
    assert [(r["signal"], r["mdc"], r["unit"], r.get("loinc")) for r in vitals["readings"]] == [
        ("spo2", 150456, "%", "59408-5"),
        ("sbp", 150021, "mm[Hg]", "8480-6"),
    ]
    online = next(s for s in by_topic(col, "status") if s["state"] == "online")
    assert online["devices"] == [{"id": "spo2-1", "state": "online"}]
    assert online["version"] and online["boot_id"]
    (alert,) = by_topic(col, "alerts")
    assert alert["alert"]["phase"] == "start" and alert["alert"]["state"] == "active"
    # every message has its own msg_id and a seq from one increasing counter
    bodies = [json.loads(m.payload) for m in col.messages]
    assert len({b["msg_id"] for b in bodies}) == len(bodies)
    data_seqs = [json.loads(m.payload)["seq"] for m in col.messages if "status" not in m.topic]
    assert data_seqs == sorted(data_seqs) and len(set(data_seqs)) == len(data_seqs)


def test_retained_state_reaches_a_late_subscriber(mosquitto: Mosquitto, tmp_path) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    book = AlertBook()
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box).start()
        try:
            ev = book.update(Alert("desaturation", "high", "physiological", "start", T0, "SpO2 86"))
            pub.publish_alerts(ev, book.active())
            pub.publish_dose_check({"type": "dose_check", "hold": False})
            assert pub.wait_idle(10)
            late = Collector(mosquitto.host, mosquitto.port, "capleak/#")
            wait_for(lambda: len(late.messages) >= 3, message="retained messages")
            topics = {m.topic.rsplit("b1/", 1)[1] for m in late.messages if m.retain}
            assert topics == {"status", "alerts/active", "dose-check"}
            (active,) = by_topic(late, "alerts/active")
            assert [a["code"] for a in active["alerts"]] == ["desaturation"]
            late.close()
        finally:
            pub.stop()


class Station:
    """A real MQTT client playing the central station: sends commands, collects replies."""

    def __init__(self, broker: Mosquitto, protocol: int = mqtt.MQTTv5) -> None:
        self.replies: list[mqtt.MQTTMessage] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="station-test", protocol=protocol
        )
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.replies.append(m)
        self.client.on_connect = lambda c, *a: c.subscribe(
            [("capleak/v1/+/+/+/cmd/+/reply", 1), ("station/replies", 1)]
        )
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(10)

    def send(self, topic: str, payload: bytes | str, retain: bool = False, props=None) -> None:
        self.client.publish(
            topic, payload, qos=1, retain=retain, properties=props
        ).wait_for_publish(5)

    def reply(self, n: int) -> dict:
        wait_for(lambda: len(self.replies) >= n, message=f"{n} replies")
        m = self.replies[n - 1]
        return validate(m.topic, m.payload) if "cmd" in m.topic else json.loads(m.payload)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_bad_commands_get_error_replies_and_change_nothing(mosquitto: Mosquitto, tmp_path) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    book = AlertBook()
    book.update(Alert("hypotension", "high", "physiological", "start", T0, "SBP 85"))
    seen: list[str] = []

    def on_command(cmd):
        seen.append(cmd.name)
        if cmd.name in ("ack", "silence"):
            result, events = apply_command(book, cmd, T0 + 60)
            pub.publish_alerts(events, book.active())
            return result
        raise CommandError("not_supported", "not in this test")

    root = cfg.topic_root
    station = Station(mosquitto)
    # a retained command left on the broker is refused when the agent subscribes
    station.send(f"{root}/cmd/ack", b'{"alert": "hypotension"}', retain=True)
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box, on_command=on_command).start()
        try:
            assert pub.wait_connected(10)
            assert station.reply(1)["error"]["code"] == "retained"
            # a retained command delivered live is refused too (MQTT 5: retain as published)
            station.send(f"{root}/cmd/ack", b'{"alert": "hypotension"}', retain=True)
            assert station.reply(2)["error"]["code"] == "retained"
            assert book.active()[0]["inactivation"] == "enabled"
            station.send(f"{root}/cmd/ack", b"", retain=True)  # clearing it
            cases = [
                (f"{root}/cmd/ack", b"{not json", "bad_json"),
                (f"{root}/cmd/ack", b"\xff\xfe", "bad_json"),
                (f"{root}/cmd/ack", b"[1, 2]", "bad_json"),
                (f"{root}/cmd/ack", b'{"alert": NaN}', "bad_json"),
                (f"{root}/cmd/ack", b'{"code": "hypotension"}', "bad_schema"),
                (f"{root}/cmd/ack", b'{"alert": "hypotension", "x": 1}', "bad_schema"),
                (f"{root}/cmd/silence", b'{"duration_s": -5}', "bad_schema"),
                (f"{root}/cmd/ack", b'{"alert": "hypotension", "bed": "s1/u1/b2"}', "wrong_bed"),
                (f"{root}/cmd/reboot", b"{}", "unknown_command"),
                (f"{root}/cmd/ack", b'{"alert": "desaturation"}', "unknown_alert"),
            ]
            assert station.reply(3)["error"]["code"] == "retained"
            for i, (topic, payload, code) in enumerate(cases, 4):
                station.send(topic, payload)
                reply = station.reply(i)
                assert reply["ok"] is False and reply["error"]["code"] == code, (payload, reply)
            # a command on another bed's topic never reaches this agent
            station.send("capleak/v1/s1/u1/b2/cmd/ack", b'{"alert": "hypotension"}')
            n = len(cases) + 3
            assert book.active()[0]["inactivation"] == "enabled"  # nothing changed
            assert seen == ["ack"]  # only the unknown-alert ack reached the handler
            # and the agent still works: a good ack with a request id
            station.send(
                f"{root}/cmd/ack", b'{"msg_id": "r-1", "alert": "hypotension", "by": "rn"}'
            )
            reply = station.reply(n + 1)
            assert reply["ok"] is True and reply["request_id"] == "r-1"
            assert reply["result"]["alerts"] == [book.active()[0]["alert_id"]]
            assert book.active()[0]["inactivation"] == "acknowledged"
            # a resent request (same msg_id) is answered again but not applied twice
            station.send(f"{root}/cmd/ack", b'{"msg_id": "r-1", "alert": "hypotension"}')
            assert station.reply(n + 2)["ok"] is True and seen == ["ack", "ack"]
            assert pub.wait_idle(10)
        finally:
            pub.stop()
            station.close()
    assert len(station.replies) == n + 2  # the foreign-bed command got no reply from us


def test_mqtt5_response_topic_and_correlation_data(mosquitto: Mosquitto, tmp_path) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    book = AlertBook()
    book.update(Alert("hypotension", "high", "physiological", "start", T0, "SBP 85"))
    station = Station(mosquitto)
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box, on_command=lambda c: apply_command(book, c, T0 + 1)[0]).start()
        try:
            assert pub.wait_connected(10)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "station/replies"
            props.CorrelationData = b"corr-42"
            station.send(f"{cfg.topic_root}/cmd/silence", b'{"duration_s": 120}', props=props)
            wait_for(lambda: station.replies, message="reply")
            m = station.replies[0]
            assert m.topic == "station/replies"
            assert m.properties.CorrelationData == b"corr-42"
            body = json.loads(m.payload)
            assert body["ok"] is True and body["command"] == "silence"
            assert book.active()[0]["inactivation"] == "audio-paused"
        finally:
            pub.stop()
            station.close()


def test_drops_of_a_full_outbox_are_reported_in_status_and_seen_as_a_gap(
    mosquitto: Mosquitto, tmp_path
) -> None:
    from edge.messaging.outbox import Outgoing

    cfg = bed_config(mosquitto.url, tmp_path / "state")
    box = Outbox.in_dir(cfg.storage.state_dir, max_messages=100)
    # the broker was unreachable for a long time: 150 vitals and one alert waited
    box.put_many(Outgoing(f"{cfg.topic_root}/vitals", {"readings": [
        Reading.of("spo2", 90 + i % 10, time=T0 + i).to_dict()]}, "vitals")
        for i in range(150))  # fmt: skip
    box.put(f"{cfg.topic_root}/alerts/active", {"alerts": []}, kind="alert", retain=True)
    assert box.drops() == {"vitals": 51} and box.depth() == 100
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    pub = Publisher(cfg, box).start()
    try:
        assert pub.wait_idle(20)
        wait_for(lambda: len(col.payloads("/vitals")) == 99 and col.payloads("/alerts/active"))
        (online,) = [s for s in by_topic(col, "status") if s["state"] == "online"]
        assert online["drops"] == {"vitals": 51}
    finally:
        pub.stop()
        box.close()
        col.close()
    vitals = sorted(json.loads(m.payload)["seq"] for m in col.messages if "vitals" in m.topic)
    assert vitals == list(range(52, 151))  # the oldest 51 never left; the rest all did


def test_websocket_broker_url(tmp_path) -> None:
    from tests.support import free_port

    tcp, ws = free_port(), free_port()
    broker = Mosquitto(
        tmp_path / "broker",
        f"listener {tcp} 127.0.0.1\nallow_anonymous true\n"
        f"listener {ws} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n",
        port=tcp,
    ).start()
    try:
        col = Collector(broker.host, tcp, "capleak/#")
        cfg = bed_config(f"ws://127.0.0.1:{ws}", tmp_path / "state")
        with Outbox.in_dir(cfg.storage.state_dir) as box:
            pub = Publisher(cfg, box).start()
            try:
                assert pub.wait_connected(10)
                pub.add_reading(Reading.of("pulse", 72, time=T0))
                assert pub.wait_idle(10)
                wait_for(lambda: col.payloads("/vitals"))
            finally:
                pub.stop()
        col.close()
        assert col.payloads("/vitals")[0]["readings"][0]["value"] == 72
    finally:
        broker.kill()
        broker.stop()


def test_vitals_are_batched_on_the_injected_clock(mosquitto: Mosquitto, tmp_path) -> None:
    import time

    from edge.clock import ManualClock

    clock = ManualClock(T0)
    cfg = bed_config(mosquitto.url, tmp_path / "state", publish={"vitals_batch_s": 1.0})
    col = Collector(mosquitto.host, mosquitto.port, "capleak/+/+/+/+/vitals")
    with Outbox.in_dir(cfg.storage.state_dir, clock=clock) as box:
        pub = Publisher(cfg, box, clock=clock).start()
        try:
            assert pub.wait_connected(10)
            for v in (95, 96, 97):
                pub.add_reading(Reading.of("spo2", v, time=T0))
            time.sleep(1.0)  # real time passes, the clock's does not: the batch stays open
            assert col.payloads("/vitals") == [] and box.last_seq == 1  # only the status
            clock.advance(1.0)
            assert pub.wait_idle(10)
            wait_for(lambda: col.payloads("/vitals"))
        finally:
            pub.stop()
            col.close()
    (batch,) = col.payloads("/vitals")
    assert [r["value"] for r in batch["readings"]] == [95, 96, 97]
    assert batch["time"] == "2026-01-01T00:00:01.000Z"


def test_a_replayed_command_is_not_applied_after_a_restart_and_replies_stay_small(
    mosquitto: Mosquitto, tmp_path
) -> None:
    """Issue 13 item 8, through a real broker: msg_ids survive a restart; no echo of input."""
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    root = cfg.topic_root
    applied: list[str] = []

    def on_command(cmd):
        applied.append(cmd.request_id)
        return {"given_at": cmd.args.get("given_at", "now")}

    station = Station(mosquitto)
    try:
        for run in range(2):
            with Outbox.in_dir(cfg.storage.state_dir) as box:
                pub = Publisher(cfg, box, on_command=on_command).start()
                try:
                    assert pub.wait_connected(10)
                    station.send(f"{root}/cmd/dose", b'{"msg_id": "dose-1"}')
                    reply = station.reply(1 + 3 * run)
                    assert reply["ok"] is True and reply["request_id"] == "dose-1"
                    big = json.dumps({"alert": "x", "k" * 10_000_000: 1, "msg_id": "big"})
                    station.send(f"{root}/cmd/ack", big)
                    reply = station.reply(2 + 3 * run)
                    assert reply["error"]["code"] == "bad_json"
                    assert len(station.replies[1 + 3 * run].payload) < 1000
                    station.send(f"{root}/cmd/ack", b"[" * 100_000)
                    assert station.reply(3 + 3 * run)["error"]["code"] == "bad_json"
                    assert pub.wait_idle(10)
                finally:
                    pub.stop()
    finally:
        station.close()
    assert applied == ["dose-1"]  # the second run answered from the ledger
