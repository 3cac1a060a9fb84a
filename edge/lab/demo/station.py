"""The demo's central station: the bed's MQTT messages on the reference station's board."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from edge.lab.demo.alerts import Transitions, alert_from_message, format_alert


class StationView:
    """The central station for the demo bed: a paho subscriber feeding
    :class:`edge.station.model.Station` (de-duplication by ``msg_id``, ``seq`` gaps, the
    board), printing alert events as they arrive."""

    def __init__(self, host: str, port: int, topic_root: str, clock_start: float) -> None:
        import paho.mqtt.client as mqtt

        from edge.station.model import Station

        self.board = Station(filter=topic_root.removeprefix("capleak/v1/"))
        self.alerts: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._start = clock_start
        self._transitions = Transitions()
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"capleak-demo-station-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(self.board.subscription(), qos=1)
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            rec = self.board.receive(msg.topic, bytes(msg.payload), bool(msg.retain))
            if rec is None or rec.duplicate or rec.error:
                return
            self.counts[rec.kind] = self.counts.get(rec.kind, 0) + 1
            if rec.kind == "alerts":
                self.alerts.append(rec.payload)
            else:
                return
        seen = alert_from_message(rec.payload)
        if seen is not None and self._transitions.shown(seen):
            print(format_alert(seen, "STATION", self._start), flush=True)

    def missing(self) -> int:
        with self._lock:
            return sum(v.missing() for v in self.board.beds.values())

    def render(self) -> str:
        with self._lock:
            return self.board.render()

    def render_at_end(self) -> str:
        """The board once the demo stopped the agent: say why the bed is offline."""
        return demo_stopped(self.render())

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()


def demo_stopped(board: str) -> str:
    """A final board whose beds went offline because the demo stopped their agent.

    >>> demo_stopped("demo/ward/bed-1: OFFLINE (412 messages)")
    'demo/ward/bed-1: OFFLINE (412 messages; the demo stopped the agent, as it does at the end)'
    """
    out = []
    for line in board.splitlines():
        if ": OFFLINE (" in line and line.endswith(")"):
            line = line[:-1] + "; the demo stopped the agent, as it does at the end)"
        out.append(line)
    return "\n".join(out)
