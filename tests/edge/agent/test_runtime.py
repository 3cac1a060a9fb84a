"""``capleak run`` as a real subprocess: systemd notify, clean stop, missing broker and devices.

Real parts only: the agent process, a real mosquitto, an AF_UNIX datagram socket
standing where systemd's would be, real ptys for devices.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from edge.vocabulary import iso_time
from tests.drivers.helpers import PtyWriter, garbage, masimo_line
from tests.hil.agent import Agent, MasimoStream, NotifySocket, outbox_rows, write_config
from tests.support import Collector, Mosquitto, Pty, free_port, wait_for


def test_ready_watchdog_stopping_and_offline_status(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/status")
    notify = NotifySocket(tmp_path / "notify")
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st")
    agent = Agent(cfg, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"}).start()
    try:
        wait_for(lambda: notify.count("READY=1"), 20, message="READY=1")
        ready = next(m for m in notify.messages if "READY=1" in m)
        assert "STATUS=0/0 devices online, broker connected" in ready
        # Watchdog every WATCHDOG_USEC/2 = 0.1 s while the loop is alive.
        wait_for(lambda: notify.count("WATCHDOG=1") >= 3, 10, message="three WATCHDOG=1")
        assert notify.messages.index(ready) < next(
            i for i, m in enumerate(notify.messages) if m == "WATCHDOG=1"
        )
        assert agent.terminate() == 0, agent.output
        assert notify.count("STOPPING=1") == 1
        pings = notify.count("WATCHDOG=1")
        time.sleep(0.3)
        assert notify.count("WATCHDOG=1") == pings, "no watchdog pings after the stop"
        states = wait_for(
            lambda: (
                [p["state"] for p in sub.payloads("status")][-1:] == ["offline"]
                and [p for p in sub.payloads("status")]
            ),
            10,
            message="offline status",
        )
        assert [p["state"] for p in states][:1] == ["online"]
        assert states[-1]["reason"] == "agent stopped" and not states[-1].get("will")
    finally:
        agent.close()
        notify.close()
        sub.close()
    first = agent.lines[:4]
    assert "config " + str(cfg) in first[0]
    assert any("broker " + mosquitto.url in line for line in first), first


def test_sigint_stops_cleanly_too(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st")
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGINT)
        assert agent.proc.wait(20) == 0, agent.output
        assert "stopping (SIGINT)" in agent.output
    finally:
        agent.close()


def test_missing_broker_buffers_then_delivers_in_order(tmp_path: Path, pty_pair: Pty) -> None:
    port = free_port()
    notify = NotifySocket(tmp_path / "notify")
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty_pair.path}
    url = f"mqtt://127.0.0.1:{port}"
    cfg = write_config(
        tmp_path / "c.toml", broker_url=url, state_dir=tmp_path / "st", devices=[spo2]
    )
    stream = MasimoStream(pty_pair, period=0.1, spo2=97)
    agent = Agent(cfg, env={"NOTIFY_SOCKET": notify.path}).start()
    b = Mosquitto(tmp_path / "late-broker", port=port)
    try:
        # Not fatal: READY=1 without a broker, and the data waits in the outbox.
        wait_for(lambda: notify.count("READY=1"), 20, message="READY=1 without a broker")
        assert "broker not connected" in next(m for m in notify.messages if "READY=1" in m)
        wait_for(lambda: len(outbox_rows(tmp_path / "st", "vitals")) >= 2, 10, message="vitals")
        stored = outbox_rows(tmp_path / "st")
        assert agent.proc is not None and agent.proc.poll() is None
        # The broker appears: everything stored is published, in seq order, none missing.
        b.start()
        sub = Collector(b.host, b.port, "capleak/v1/s1/u1/b1/#")
        stream.spo2 = 95
        got = wait_for(
            lambda: (
                any(r["value"] == 95.0 for p in sub.payloads("vitals") for r in p["readings"])
                and sub.payloads("")
            ),
            20,
            message="fresh vitals after the broker came",
        )
        seqs = sorted({p["seq"] for p in got if not p.get("will")})
        assert {seq for seq, _, _ in stored} <= set(seqs), "everything stored was delivered"
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), "no seq missing"
        sub.close()
    finally:
        stream.stop()
        agent.close()
        b.stop()
        notify.close()


def test_missing_device_is_retried_and_reported(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sub = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/alerts")
    link = tmp_path / "capleak-spo2"  # like a udev SYMLINK+= that is not there yet
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": str(link), "max_quiet_s": 1.0}
    cfg = write_config(
        tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st", devices=[spo2]
    )
    agent = Agent(cfg).start()
    pty = None
    try:
        agent.wait_log("ready:")
        offline = wait_for(
            lambda: [p["alert"] for p in sub.payloads("alerts") if p["alert"]["phase"] == "start"],
            15,
            message="device_offline start",
        )
        assert offline[0]["code"] == "device_offline" and offline[0]["source"] == "spo2"
        assert offline[0]["kind"] == "technical"
        # Plug it in: the link finds it on its next retry, the alert ends.
        pty = Pty()
        stream = MasimoStream(pty, period=0.1)
        os.symlink(pty.path, link)
        ends = wait_for(
            lambda: [p["alert"] for p in sub.payloads("alerts") if p["alert"]["phase"] == "end"],
            10,
            message="device_offline end",
        )
        assert ends[0]["code"] == "device_offline" and ends[0]["source"] == "spo2"
        assert agent.terminate() == 0
        stream.stop()
    finally:
        agent.close()
        sub.close()
        if pty:
            pty.close()
    assert json.dumps(offline[0])  # JSON-clean payloads


def test_a_second_agent_on_the_same_state_dir_refuses_to_start(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st")
    first = Agent(cfg).start()
    second = Agent(cfg)
    try:
        first.wait_log("ready:")
        second.start()
        assert second.proc is not None
        assert second.proc.wait(20) == 1
        second.wait_log("another capleak agent is running")
        assert first.proc is not None and first.proc.poll() is None
        assert first.terminate() == 0
    finally:
        first.close()
        second.close()


def test_commands_reach_the_alert_book_and_the_core(
    tmp_path: Path, mosquitto: Mosquitto, pty_pair: Pty
) -> None:
    """ack goes to the alert book, baseline and dose to the core; replies come back."""
    import paho.mqtt.client as mqtt

    root = "capleak/v1/s1/u1/b1"
    sub = Collector(mosquitto.host, mosquitto.port, f"{root}/#")
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty_pair.path, "max_quiet_s": 1.0}
    cfg = write_config(
        tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st", devices=[spo2]
    )
    agent = Agent(cfg).start()
    nurse = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="nurse-station")
    nurse.connect(mosquitto.host, mosquitto.port)
    nurse.loop_start()
    try:
        agent.wait_log("ready:")
        # The oximeter never speaks: device_offline starts; the nurse acknowledges it.
        wait_for(lambda: sub.payloads("alerts"), 15, message="device_offline")

        def send(name: str, body: dict) -> dict:
            rid = f"req-{name}-{len(sub.payloads('reply'))}"
            body = {"msg_id": rid, "by": "rn-7", **body}
            nurse.publish(f"{root}/cmd/{name}", json.dumps(body), qos=1).wait_for_publish(5)
            return wait_for(
                lambda: [p for p in sub.payloads("reply") if p.get("request_id") == rid][:1],
                10,
                message=f"reply to {name}",
            )[0]

        ack = send("ack", {"alert": "device_offline", "source": "spo2"})
        assert ack["ok"] is True, ack
        events = [p["alert"] for p in sub.payloads("alerts")]
        assert events[-1]["inactivation"] in ("acknowledged", "alert-acknowledged")
        assert events[-1].get("acknowledged_by") == "rn-7"
        base = send("baseline", {"signal": "weight", "value": 71.5})
        assert base["ok"] is True and base["result"]["value"] == 71.5, base
        given_at = iso_time(time.time() - 3600)
        dose = send("dose", {"given_at": given_at})
        assert dose["ok"] is True, dose
        stale = send("dose", {"given_at": "2020-01-05T08:00:00Z"})
        assert stale["ok"] is False and stale["error"]["code"] == "refused", stale
        bad = send("ack", {"alert": "hypotension"})
        assert bad["ok"] is False and bad["error"]["code"] == "unknown_alert", bad
        assert agent.proc is not None and agent.proc.poll() is None
        assert agent.terminate() == 0
    finally:
        nurse.loop_stop()
        nurse.disconnect()
        agent.close()
        sub.close()


def test_a_device_sending_only_garbage_raises_device_offline(
    tmp_path: Path, mosquitto: Mosquitto, pty_pair: Pty
) -> None:
    """A wrong baud rate: bytes flow, no frame is valid. ``device_offline`` names it within
    the quiet time; valid frames end it (issue 13 item 5)."""
    sub = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/alerts")
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty_pair.path, "max_quiet_s": 1.0}
    cfg = write_config(
        tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st", devices=[spo2]
    )
    agent = Agent(cfg).start()
    device = PtyWriter(pty_pair, garbage(96), period=0.1)  # ~960 bytes/s, like 9600 baud
    try:
        agent.wait_log("ready:")

        def alerts(phase: str) -> list[dict]:
            return [p["alert"] for p in sub.payloads("alerts") if p["alert"]["phase"] == phase]

        start = wait_for(lambda: alerts("start"), 10, message="device_offline start")[0]
        assert device.first is not None
        assert start["code"] == "device_offline" and start["source"] == "spo2"
        assert "garbled: " in start["message"] and "no valid frame for 1 s" in start["message"]
        assert start["values"]["reason"].startswith("garbled: ")
        assert not any(p["readings"] for p in sub.payloads("vitals"))
        device.say(masimo_line)
        end = wait_for(lambda: alerts("end"), 10, message="device_offline end")[0]
        assert end["code"] == "device_offline" and end["source"] == "spo2"
        assert agent.terminate() == 0
    finally:
        device.stop()
        agent.close()
        sub.close()
    assert "device spo2 offline: garbled: " in agent.output
