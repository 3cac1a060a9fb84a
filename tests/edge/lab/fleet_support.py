"""Real parts for the fleet tests and ``scripts/bench-fleet``: a unit broker bridged to a
central broker (through a TCP relay the test can cut), ``capleak station --share``
members in subprocesses, and the check of every ``(bed, seq)`` against the fleet's ranges.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import Mosquitto, free_port, wait_for

#: What a bed publishes through the outbox (the streams the members of a group split).
STREAM_KINDS = ("vitals", "trends", "alerts", "alerts/active", "dose-check")


def bridge_conf(remote_port: int, name: str = "unit-1") -> str:
    """The unit broker's bridge to the central broker, as docs/mosquitto/bridge.conf has it
    (without TLS: the test's loopback; the relay in between is the "network")."""
    return (
        f"\nconnection {name}-to-central\n"
        f"address 127.0.0.1:{remote_port}\n"
        "bridge_protocol_version mqttv50\n"
        "cleansession false\n"
        f"remote_clientid {name}-bridge\n"
        f"local_clientid {name}-bridge-local\n"
        "restart_timeout 1 2\n"
        "keepalive_interval 10\n"
        "topic capleak/v1/# out 1\n"
        "topic capleak/v1/+/+/+/cmd/+ in 1\n"
    )


class Relay:
    """A TCP relay 127.0.0.1:port -> target_port that can be cut (a network outage)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.open()

    def open(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while self._server is server:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.target), 2)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._socks += [conn, up]
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()


def bridged_brokers(
    factory: Any, max_queued: int | None = None
) -> tuple[Mosquitto, Mosquitto, Relay]:
    """(unit broker, central broker, relay): beds publish to the unit broker, whose bridge
    reaches the central broker through the relay."""
    central = factory(name="central")
    relay = Relay(central.port)
    extra = bridge_conf(relay.port)
    if max_queued is not None:  # the helper's global default is 100000; override it
        extra = f"max_queued_messages {max_queued}\n" + extra
    unit = factory(extra, name="unit")
    return unit, central, relay


@dataclass
class StationProc:
    """``capleak station --share GROUP --json`` in a subprocess; its lines gathered."""

    broker: str
    group: str
    extra: tuple[str, ...] = ()
    lines: list[dict[str, Any]] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None

    def start(self) -> StationProc:
        cmd = [sys.executable, "-m", "edge.cli", "station", "--broker", self.broker]
        cmd += ["--share", self.group, "--json", *self.extra]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                d = json.loads(line)
                d["_at"] = time.monotonic()  # when it arrived here
                d["_wall"] = time.time()
                self.lines.append(d)

    def seen(self, topic_end: str, key: str, value: Any) -> bool:
        return any(
            str(d.get("topic", "")).endswith(topic_end)
            and (d.get("payload") or {}).get(key) == value
            for d in list(self.lines)
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stream_seqs(self) -> list[tuple[str, int]]:
        """(bed, seq) of each first-seen stream message (not a duplicate, not retained)."""
        out = []
        for d in list(self.lines):
            body = d.get("payload") or {}
            fresh = not d.get("duplicate") and not d.get("retained")
            if d.get("kind") in STREAM_KINDS and fresh and isinstance(body.get("seq"), int):
                out.append((str(d["bed"]), int(body["seq"])))
        return out

    def all_seqs(self) -> set[tuple[str, int]]:
        """Every (bed, seq) this member received by any subscription (Wills excepted)."""
        out = set()
        for d in list(self.lines):
            body = d.get("payload") or {}
            if isinstance(body.get("seq"), int) and d.get("bed") and not body.get("will"):
                out.add((str(d["bed"]), int(body["seq"])))
        return out


def probe_ready(unit_url: str, stations: list[StationProc], timeout: float = 20.0) -> None:
    """Publish a retained probe status at the unit broker until every member printed it:
    the bridge is up and every member subscribed."""
    import paho.mqtt.client as mqtt
    import paho.mqtt.publish as publish

    host, port = unit_url.removeprefix("mqtt://").split(":")
    topic = "capleak/v1/probe/probe/probe/status"
    n = 0
    deadline = time.monotonic() + timeout
    while True:
        n += 1
        publish.single(
            topic,
            json.dumps({"msg_id": f"probe-{n}-{time.time()}", "seq": n, "state": "online"}),
            qos=1,
            retain=True,
            hostname=host,
            port=int(port),
            protocol=mqtt.MQTTv5,
        )
        ok = wait_for_quiet(lambda n=n: all(s.seen("/status", "seq", n) for s in stations), 1.0)
        if ok:
            return
        if time.monotonic() > deadline:
            raise AssertionError("the bridge or the stations did not come up")


def wait_for_quiet(predicate: Any, timeout: float) -> bool:
    try:
        wait_for(predicate, timeout, message="probe")
        return True
    except AssertionError:
        return False


def run_fleet_cli(
    broker: str, beds: int, duration: float, state_dir: Path, *extra: str, timeout: float = 300
) -> dict[str, Any]:
    """``capleak fleet ... --json``: its summary (the exit code under ``exit_code``)."""
    cmd = [sys.executable, "-m", "edge.cli", "fleet", "--broker", broker, "--beds", str(beds)]
    cmd += ["--duration", str(duration), "--state-dir", str(state_dir), "--json", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no summary; stderr: {done.stderr[-3000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["exit_code"] = done.returncode
    summary["stderr"] = done.stderr
    return summary


def expected_seqs(summary: dict[str, Any]) -> set[tuple[str, int]]:
    """Every (bed, seq) the fleet's beds used."""
    return {
        (str(b["bed"]), s)
        for b in summary["per_bed"]
        for s in range(int(b["first_seq"]), int(b["last_seq"]) + 1)
    }
