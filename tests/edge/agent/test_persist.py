"""State that survives a restart (issue 13 item 6) and vitals that carry validation (item 12).

Real parts: ``capleak run`` as a subprocess (stopped with SIGTERM or killed with SIGKILL),
then the :class:`~edge.agent.runtime.Runtime` on the same state directory (its real
SQLite outbox), real mosquitto, real ptys with a Masimo oximeter speaking its protocol.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.agent.runtime import Runtime, state_dir_writable
from edge.config import load_config
from edge.vocabulary import Reading, iso_time, parse_time
from tests.edge.messaging.support import validate
from tests.hil.agent import Agent, masimo_line, write_config
from tests.support import Collector, Mosquitto, Pty, wait_for

ROOT = "capleak/v1/s1/u1/b1"


class FastOximeter:
    """A Masimo oximeter on a pty whose frames carry their own time, 30 s apart.

    Frame times start 3 h in the past, so a 15 min learn window passes in 30 frames
    (3 s) while every reading is still older than the agent's clock.
    """

    def __init__(self, pty: Pty, spo2: int = 97, bpm: int = 70) -> None:
        self.pty = pty
        self.spo2 = spo2
        self.bpm = bpm
        self.t = time.time() - 3 * 3600.0
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            if self.paused:
                continue
            self.t += 30.0
            with contextlib.suppress(OSError):
                self.pty.write(masimo_line(self.t, self.spo2, self.bpm))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@contextlib.contextmanager
def runtime_thread(config_path: Path) -> Iterator[Runtime]:
    """The agent in this process (same code as ``capleak run``), for a look at its core."""
    config = load_config(str(config_path))
    state_dir_writable(config.storage.state_dir)  # as `capleak run` does first
    rt = Runtime(config)
    th = threading.Thread(target=rt.run, daemon=True)
    th.start()
    try:
        assert rt.ready.wait(20), "runtime not ready"
        yield rt
    finally:
        rt.stop("test done")
        th.join(20)
        assert not th.is_alive()


def saved_core(state_dir: Path) -> dict[str, Any] | None:
    """The core's snapshot in the outbox's state table (read-only)."""
    con = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'state.core'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def command(nurse: mqtt.Client, sub: Collector, name: str, body: dict[str, Any]) -> dict[str, Any]:
    rid = f"req-{name}-{time.monotonic_ns()}"
    body = {"msg_id": rid, "by": "rn-7", "time": iso_time(time.time()), **body}
    nurse.publish(f"{ROOT}/cmd/{name}", json.dumps(body), qos=1).wait_for_publish(5)
    reply = wait_for(
        lambda: [p for p in sub.payloads("reply") if p.get("request_id") == rid][:1],
        10,
        message=f"reply to {name}",
    )[0]
    assert reply["ok"] is True, reply
    return reply


def baselines_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["trends"]["baselines"]


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_a_restart_keeps_baselines_doses_and_does_not_learn_the_leak(
    tmp_path: Path, mosquitto: Mosquitto, pty_pair: Pty, stop: str
) -> None:
    state = tmp_path / "st"
    spo2 = {"id": "spo2", "driver": "masimo-ascii", "port": pty_pair.path, "max_quiet_s": 5.0}
    cfg = write_config(
        tmp_path / "c.toml",
        broker_url=mosquitto.url,
        state_dir=state,
        devices=[spo2],
        extra="[thresholds]\nbaseline_learn_h = 0.25\n[publish]\ntrends_interval_s = 1\n",
    )
    cfg.write_text(cfg.read_text().replace("[storage]\n", "[storage]\ncore_state_interval_s = 1\n"))
    sub = Collector(mosquitto.host, mosquitto.port, f"{ROOT}/#")
    nurse = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="nurse-station")
    nurse.connect(mosquitto.host, mosquitto.port)
    nurse.loop_start()
    oximeter = FastOximeter(pty_pair, spo2=97, bpm=70)
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        # Learned from the first 15 min of readings (30 frames), then a commanded one.
        learned = wait_for(
            lambda: [
                b for p in sub.payloads("trends") if {"spo2", "pulse"} <= set(b := baselines_of(p))
            ][-1:],
            30,
            message="learned baselines in trends",
        )[0]
        assert learned["spo2"]["source"] == "learned" and learned["spo2"]["value"] == 97.0
        assert "restored" not in learned["spo2"]
        oximeter.spo2 = 90  # the leak begins: the saturation falls
        command(nurse, sub, "baseline", {"signal": "weight", "value": 71.5})
        given_at = iso_time(time.time() - 600)
        command(nurse, sub, "dose", {"given_at": given_at})
        time.sleep(1.5)  # a few leak readings go in
        before = wait_for(
            lambda: [b for p in sub.payloads("trends") if "weight" in (b := baselines_of(p))][-1:],
            10,
            message="trends with the commanded baseline",
        )[0]
        assert before["weight"] == {"value": 71.5, "source": "command", "n": 0}
        if stop == "kill9":
            # Saved at once on the commands: nothing to wait for but the file.
            assert (saved_core(state) or {}).get("core", {}).get("schedule", {}).get("given") == 1
            agent.kill9()
        else:
            assert agent.terminate() == 0, agent.output
        saved = saved_core(state)
        assert saved is not None, "the core's state is in the outbox's state table"
        seq_stop = max(p["seq"] for p in sub.payloads("trends"))

        # The restart: the leak goes on (SpO2 90) while the agent starts again.
        with runtime_thread(cfg) as rt:
            assert rt.core is not None
            got = rt.core.baselines()
            assert {s: {k: v for k, v in b.items() if k != "restored"} for s, b in got.items()} == {
                s: {k: v for k, v in b.items() if k != "restored"} for s, b in before.items()
            }
            assert all(b["restored"] is True for b in got.values()), got
            assert rt.core.schedule.given == 1
            assert rt.core.schedule.last_dose == parse_time(given_at)
            after = wait_for(
                lambda: [
                    baselines_of(p)
                    for p in sub.payloads("trends")
                    if p["seq"] > seq_stop and baselines_of(p)
                ][-1:],
                15,
                message="trends after the restart",
            )[0]
            time.sleep(1.0)  # more leak readings after the restart
            assert rt.core.baselines()["spo2"]["value"] == 97.0, "the leak was not learned"
        assert after["spo2"] == {**learned["spo2"], "restored": True}
        for m in list(sub.messages):
            if m.topic.endswith("/trends"):
                validate(m.topic, m.payload)  # ``restored`` is in the schema
        assert after["weight"] == {"value": 71.5, "source": "command", "n": 0, "restored": True}
    finally:
        oximeter.stop()
        agent.close()
        nurse.loop_stop()
        nurse.disconnect()
        sub.close()


def test_device_offline_across_a_restart_ends_when_back_and_is_not_raised_twice(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    back, still = Pty(), Pty()
    devices = [
        {"id": "spo2", "driver": "masimo-ascii", "port": back.path, "max_quiet_s": 1.0},
        {"id": "spo2b", "driver": "masimo-ascii", "port": still.path, "max_quiet_s": 1.0},
    ]
    cfg = write_config(
        tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st", devices=devices
    )
    sub = Collector(mosquitto.host, mosquitto.port, f"{ROOT}/alerts")
    agent = Agent(cfg).start()
    oximeter = None
    try:

        def events(device: str, phase: str) -> list[dict[str, Any]]:
            return [
                a
                for p in sub.payloads("alerts")
                if (a := p["alert"])["code"] == "device_offline"
                and a["source"] == device
                and a["phase"] == phase
            ]

        wait_for(lambda: events("spo2", "start") and events("spo2b", "start"), 15, message="both")
        assert agent.terminate() == 0, agent.output
        oximeter = FastOximeter(back)  # one oximeter is back; the other is still silent
        agent = Agent(cfg).start()
        agent.wait_log("ready:")
        wait_for(lambda: events("spo2", "end"), 10, message="device_offline end after restart")
        agent.wait_log("device spo2b offline")  # its link found it silent again
        time.sleep(0.5)
        assert len(events("spo2b", "start")) == 1, "no second start for the still-silent one"
        assert not events("spo2b", "end")
        assert agent.terminate() == 0, agent.output
    finally:
        if oximeter:
            oximeter.stop()
        agent.close()
        sub.close()
        back.close()
        still.close()


def test_vitals_carry_the_cores_verdict(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Weight 99,999.99 kg and SBP 5 arrive flagged ``rejected``; normal ones ``valid``."""
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=tmp_path / "st")
    sub = Collector(mosquitto.host, mosquitto.port, f"{ROOT}/vitals")
    t = time.time()
    sent = [
        Reading.of("weight", 99_999.99, time=t, source="scale"),
        Reading.of("weight", 72.4, time=t + 1, source="scale"),
        Reading.of("sbp", 5.0, time=t, source="nibp"),
        Reading.of("sbp", 118.0, time=t + 60, source="nibp"),
        Reading.of("spo2", 97.0, time=t, source="spo2", flags=["artifact"]),
    ]
    with runtime_thread(cfg) as rt:
        for r in sent:
            rt._reading_arrived(r)  # where a device link hands over its readings
        got = wait_for(
            lambda: (
                [r for p in sub.payloads("vitals") for r in p["readings"]][4:]
                and [r for p in sub.payloads("vitals") for r in p["readings"]]
            ),
            15,
            message="five readings on vitals",
        )
        assert rt.core is not None
        assert rt.core.rejected.as_dict()["weight:implausible"] == 1
    for m in list(sub.messages):
        validate(m.topic, m.payload)  # ``valid`` and ``rejected`` are in the schema
    by = {(r["signal"], r["value"]): r for r in got}
    for key in (("weight", 99_999.99), ("sbp", 5.0)):
        r = by[key]
        assert r["valid"] is False and r["rejected"] == "implausible", r
        assert "rejected" in r["flags"], r
    for key in (("weight", 72.4), ("sbp", 118.0)):
        r = by[key]
        assert r["valid"] is True and r["flags"] == [] and "rejected" not in r, r
    flagged = by[("spo2", 97.0)]
    assert flagged["valid"] is False and flagged["rejected"] == "flagged"
    assert flagged["flags"] == ["artifact", "rejected"]
