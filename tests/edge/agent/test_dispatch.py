"""Dispatcher and publish_outputs (the library side of ``capleak replay --publish``)."""

from __future__ import annotations

import json

import pytest

from edge.agent.dispatch import Dispatcher, publish_outputs
from edge.config import BrokerConfig
from edge.vocabulary import Alert, Reading
from tests.edge.messaging.support import bed_config, validate
from tests.support import Collector, Mosquitto, free_port, wait_for

T0 = 1_767_225_600.0


def hypo(phase: str, t: float) -> Alert:
    return Alert("hypotension", "high", "physiological", phase, t, f"SBP {phase}", {"sbp": 85.0})


def stream() -> list:
    return [
        Reading.of("sbp", 100, time=T0),
        Reading.of("spo2", 97, time=T0 + 0.5),
        Reading.of("sbp", 95, time=T0 + 1.2),  # a new 1 s batch
        hypo("start", T0 + 2),
        Reading.of("sbp", 85, time=T0 + 400),  # re-notification due (renotify_min 5)
        {"type": "trends", "signals": {"sbp": {"slope": -1.0}}},
        hypo("end", T0 + 500),  # high priority: latched
        {"type": "dose_check", "hold": True, "reasons": ["sbp"]},
    ]


def test_publish_outputs_sends_everything_as_the_live_agent_would(
    mosquitto: Mosquitto, tmp_path
) -> None:
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    cfg = bed_config(mosquitto.url, tmp_path / "state", publish={"vitals_batch_s": 1.0})
    result = publish_outputs(cfg, stream(), timeout=20)
    assert result.acknowledged
    assert (result.readings, result.alerts, result.other) == (4, 2, 2)
    wait_for(lambda: len(col.payloads("/dose-check")) == 1, message="dose check")
    col.close()
    for m in col.messages:
        validate(m.topic, m.payload)
    vitals = col.payloads("/vitals")
    assert [[r["signal"] for r in v["readings"]] for v in vitals] == [
        ["sbp", "spo2"],
        ["sbp"],
        ["sbp"],
    ]
    phases = [(a["alert"]["phase"], a["alert"]["state"]) for a in col.payloads("/alerts")]
    assert phases == [("start", "active"), ("continue", "active"), ("update", "latched")]
    assert col.payloads("/alerts/active")[-1]["alerts"][0]["state"] == "latched"
    assert max(json.loads(m.payload)["seq"] for m in col.messages) == result.last_seq + 1


def test_a_restarted_agent_republishes_its_active_alerts_and_takes_the_ack(
    mosquitto: Mosquitto, tmp_path
) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    d = Dispatcher(cfg).start()
    d.alert(hypo("start", T0))
    d.alert(hypo("end", T0 + 60))
    assert d.stop(drain_timeout=10)
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    d = Dispatcher(cfg).start()  # a new process would do the same: state from the outbox
    try:
        fresh = wait_for(
            lambda: [
                json.loads(m.payload)
                for m in list(col.messages)
                if m.topic.endswith("/alerts/active") and not m.retain
            ],
            message="a fresh (not retained) active list",
        )
        assert [a["state"] for a in fresh[0]["alerts"]] == ["latched"]
        assert d.publisher.wait_connected(10)
        col.client.publish(f"{cfg.topic_root}/cmd/ack", '{"alert": "hypotension"}', qos=1)
        wait_for(lambda: col.payloads("/cmd/ack/reply"), message="ack reply")
        assert col.payloads("/cmd/ack/reply")[0]["ok"] is True
        wait_for(lambda: col.payloads("/alerts/active")[-1]["alerts"] == [])
        (end,) = [a["alert"] for a in col.payloads("/alerts") if a["alert"]["phase"] == "end"]
        assert end["state"] == "inactive" and end["inactivation"] == "acknowledged"
        # dose and baseline are for the runtime's handler; none given here
        col.client.publish(f"{cfg.topic_root}/cmd/dose", "{}", qos=1)
        wait_for(lambda: col.payloads("/cmd/dose/reply"))
        assert col.payloads("/cmd/dose/reply")[0]["error"]["code"] == "not_supported"
    finally:
        d.stop()
        col.close()


def test_unreachable_broker_is_a_connection_error(tmp_path) -> None:
    cfg = bed_config(f"mqtt://127.0.0.1:{free_port()}", tmp_path / "state")
    assert isinstance(cfg.broker, BrokerConfig)
    with pytest.raises(ConnectionError):
        publish_outputs(cfg, stream(), timeout=1)
