"""Wall-clock steps neither stop nor fire the agent's timed work (issue 13 item 7).

The :class:`Runtime` runs in this process on a scaled clock (x60: a clock minute per
real second) whose wall time the test steps back one hour and forward again, as NTP
does on a Raspberry Pi without an RTC; the monotonic clock goes on. A real mosquitto
and a real subscriber see what the station would: re-notifications and trends keep
their cadence, an audio pause keeps its length, and the retained status says
``faults.clock`` while the clocks disagree.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.agent.runtime import Runtime
from edge.clock import ScaledClock
from edge.config import config_from_dict
from edge.vocabulary import Alert, AlertCode, Kind, Phase, Priority
from tests.support import Mosquitto, wait_for

T0 = 1_767_571_200.0  # 2026-01-05T00:00:00Z
SPEED = 60.0
ROOT = "capleak/v1/s1/u1/b1"


class Station:
    """A real subscriber that notes when (real, monotonic) each message arrived."""

    def __init__(self, broker: Mosquitto) -> None:
        self.got: list[tuple[float, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="station-clock-test")
        c.on_connect = lambda cl, *_: cl.subscribe(f"{ROOT}/#", qos=1)
        c.on_subscribe = lambda *_: self._ready.set()
        c.on_message = self._message
        c.connect(broker.host, broker.port)
        c.loop_start()
        self.client = c
        assert self._ready.wait(10)

    def _message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.got.append((time.monotonic(), msg.topic[len(ROOT) + 1 :], json.loads(msg.payload)))

    def on(self, topic: str, since: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(t, p) for t, top, p in self.got if top == topic and t >= since]

    def events(self, phase: str, since: float = 0.0) -> list[float]:
        return [t for t, p in self.on("alerts", since) if p["alert"]["phase"] == phase]

    def command(self, name: str, body: dict[str, Any]) -> None:
        body = {"msg_id": f"cmd-{len(self.got)}", "by": "rn-1", **body}
        self.client.publish(f"{ROOT}/cmd/{name}", json.dumps(body), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def config(tmp_path: Path, broker: Mosquitto) -> Any:
    (tmp_path / "st").mkdir(exist_ok=True)
    return config_from_dict(
        {
            "bed": {"site": "s1", "unit": "u1", "bed": "b1"},
            "broker": {"url": broker.url},
            "storage": {"state_dir": str(tmp_path / "st")},
            # re-notify every 30 clock s (0.5 real s); trends every clock minute (1 real s)
            "publish": {"renotify_min": 0.5, "trends_interval_s": 60},
        }
    )


def test_steps_back_and_forward_keep_the_cadence_of_timed_work(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    clock = ScaledClock(T0, SPEED)
    station = Station(mosquitto)
    runtime = Runtime(config(tmp_path, mosquitto), clock=clock)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        assert runtime.ready.wait(20)
        assert runtime.dispatch is not None and runtime.core is not None
        hypotension = Alert(
            AlertCode.HYPOTENSION, Priority.HIGH, Kind.PHYSIOLOGICAL, Phase.START,
            clock.now(), "SBP 82 < 90", {"sbp": 82},
        )  # fmt: skip
        runtime.dispatch.alert(hypotension)
        wait_for(lambda: len(station.events("continue")) >= 2, 10, message="re-notifications")

        # Back one hour: re-notifications, trends and the core's timed checks go on.
        back = time.monotonic()
        core_before = runtime.core.now
        clock.step(-3600.0)
        time.sleep(3.0)
        continues = station.events("continue")
        gaps = [b - a for a, b in itertools.pairwise(continues)]
        assert len(station.events("continue", back)) >= 3, "re-notification stopped"
        assert max(gaps) < 1.5, f"re-notification stalled: gaps {gaps}"
        assert len(station.on("trends", back)) >= 2, "trends stopped"
        assert runtime.core.now - core_before > 30.0, "the core's timed checks stalled"
        status = wait_for(
            lambda: [p for _, p in station.on("status", back) if "clock" in p.get("faults", {})],
            5,
            message="faults.clock in the retained status",
        )
        assert "stepped -3600" in status[-1]["faults"]["clock"]

        # An audio pause of 5 clock minutes, then forward one hour: the pause lasts.
        station.command("silence", {"alert": "hypotension", "duration_s": 300})
        wait_for(lambda: station.events("update", back), 10, message="audio paused")
        paused = station.on("alerts", back)[-1][1]["alert"]
        assert paused["inactivation"] == "audio-paused"
        forward = time.monotonic()
        clock.step(+3600.0)
        time.sleep(2.5)
        after = [p["alert"] for _, p in station.on("alerts", forward)]
        assert after == [], f"a forward step fired timed work at once: {after}"
        # the clocks agree again (the step undid the first): the fault clears
        wait_for(lambda: "clock" not in runtime.health.snapshot()["faults"], 5)
        # and the pause ends on time, five clock minutes (5 real s) after it began
        ended = wait_for(lambda: station.events("update", forward), 10, message="pause end")
        assert ended[0] - forward > 2.0
    finally:
        runtime.stop()
        thread.join(20)
        station.close()
    assert not thread.is_alive()


def test_a_wall_clock_before_capleak_existed_is_flagged_until_it_is_set(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """A Pi without RTC boots at 1970: flagged; NTP sets it: the core follows at once."""
    clock = ScaledClock(0.0 + 86400, 1.0)  # 1970-01-02
    runtime = Runtime(config(tmp_path, mosquitto), clock=clock)
    thread = threading.Thread(target=runtime.run, daemon=True)
    thread.start()
    try:
        assert runtime.ready.wait(20)
        assert "not synchronised" in runtime.health.snapshot()["faults"]["clock"]
        clock.step(T0 - clock.now())  # NTP's first answer
        wait_for(lambda: "clock" not in runtime.health.snapshot()["faults"], 5)
        assert runtime.core is not None and abs(runtime.core.now - clock.now()) < 5
    finally:
        runtime.stop()
        thread.join(20)
