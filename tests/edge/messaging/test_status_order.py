"""Status cannot go backwards (issue 13 item 9): a stalled then cut link, a real broker.

Before: the retained status was published with QoS 1 outside the outbox, so paho kept
the ones sent into a stalled connection and resent them after the reconnect, *after*
the fresh online status: the station (and the retained value) went back in time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from tests.edge.messaging.support import bed_config
from tests.support import Collector, Mosquitto, wait_for


class StallingProxy:
    """A TCP proxy to the broker that can black-hole the client's bytes, then cut."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stalled = threading.Event()
        self.connections = 0
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self._socks += [client, up]
            self.connections += 1
            threading.Thread(target=self._pipe, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if from_client and self.stalled.is_set():
                    continue  # lost in the network
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        self._socks.clear()

    def close(self) -> None:
        self.server.close()
        self.cut()


def test_a_station_never_sees_an_older_status_after_a_fresh_one(
    mosquitto: Mosquitto, tmp_path
) -> None:
    proxy = StallingProxy((mosquitto.host, mosquitto.port))
    cfg = bed_config(f"mqtt://127.0.0.1:{proxy.port}", tmp_path / "state")
    col = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/status")
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box, reconnect_delay=(0.1, 0.5)).start()
        try:
            assert pub.wait_connected(10)
            pub.set_devices([{"id": "spo2", "state": "online"}])
            wait_for(lambda: len(col.payloads()) >= 2, 5, message="two statuses")
            proxy.stalled.set()  # the link stalls: what is sent now is lost
            for state in ("offline", "online", "offline"):
                pub.set_devices([{"id": "spo2", "state": state}])
            proxy.cut()
            proxy.stalled.clear()
            wait_for(lambda: proxy.connections >= 2 and pub.wait_connected(0.1), 10)
            pub.set_devices([{"id": "spo2", "state": "online"}])  # the fresh, final state
            wait_for(
                lambda: any(p.get("devices") == [{"id": "spo2", "state": "online"}]
                            for p in col.payloads()[3:]),
                5,
                message="the fresh status",
            )  # fmt: skip
            pub.publish_status()
            wait_for(lambda: len(col.payloads()) >= 5, 5)
            time.sleep(1.0)  # paho's resends, if any, arrive now
        finally:
            pub.stop()
            time.sleep(0.3)  # the DISCONNECT through the proxy, or the broker sends the Will
            proxy.close()
    online = [p for p in col.payloads() if p["state"] == "online"]
    seqs = [p["seq"] for p in online]
    assert seqs == sorted(seqs), f"status went backwards: seqs {seqs}"
    late = Collector(mosquitto.host, mosquitto.port, "capleak/v1/s1/u1/b1/status")
    try:
        retained = wait_for(lambda: late.payloads(), 5)[-1]
        assert retained["state"] == "offline" and retained["reason"] == "agent stopped"
    finally:
        late.close()
        col.close()
    assert json.dumps(online[-1]["devices"]) == '[{"id": "spo2", "state": "online"}]'
