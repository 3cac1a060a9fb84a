"""Real parts for tests: a mosquitto broker process, pseudo-terminals, an MQTT collector.

Nothing here is a mock: the broker is the real ``mosquitto`` binary on a free
loopback port in its own process (tests can kill -9 and restart it), the ptys
are real kernel pseudo-terminals, the collector is a real paho client.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parent.parent


def shared_data(name: str) -> Path:
    """A folder of the workplace's real device data (``shared/data/NAME``), by reference.

    ``CAPLEAK_SHARED_DATA`` names the ``data`` folder; else ``shared/data`` next to the
    checkout, else the workplace's ``/work/shared/data`` (a clean clone may live anywhere).
    The data is never copied into the repository.
    """
    candidates = [Path(p) / name for p in filter(None, [os.environ.get("CAPLEAK_SHARED_DATA")])]
    candidates += [REPO.parent / "shared" / "data" / name, Path("/work/shared/data") / name]
    return next((c for c in candidates if c.exists()), candidates[0])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Mosquitto:
    """A real mosquitto on a free loopback port, in its own process group."""

    def __init__(
        self, workdir: Path, extra_conf: str = "", port: int | None = None, anonymous: bool = True
    ) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(self.binary):
            raise RuntimeError("mosquitto is not installed: run scripts/test, which installs it")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        (self.workdir / "data").mkdir(exist_ok=True)
        body = (
            extra_conf
            if "listener" in extra_conf
            else (
                f"listener {self.port} {self.host}\n"
                f"allow_anonymous {'true' if anonymous else 'false'}\n" + extra_conf
            )
        )
        # As root, mosquitto drops to the `mosquitto` user, which cannot write this
        # test's persistence directory or log: keep the invoking user instead, so
        # persistent sessions survive a restart as they would on a real broker.
        keep_user = "user root\n" if os.geteuid() == 0 and "\nuser " not in "\n" + body else ""
        self.conf.write_text(
            keep_user + f"persistence true\npersistence_location {self.workdir / 'data'}/\n"
            f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
            f"max_queued_messages 100000\n" + body
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _accepts(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
            return True
        return False

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}: {err}{log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not accept connections on {self.port}")
            time.sleep(0.02)
        return self

    def _wait_port_free(self, timeout: float = 5.0) -> None:
        wait_for(lambda: not self._accepts(), timeout, message="port to close")

    def kill(self) -> None:
        """SIGKILL, like a crash: no clean shutdown, no final persistence save."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._wait_port_free()

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def restart(self) -> Mosquitto:
        self.stop()
        return self.start()


class Pty:
    """A real pseudo-terminal pair in raw mode. The device side is ``path``."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        attrs = termios.tcgetattr(self.slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        """Write from the device side of the pair (the master end)."""
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def read(self, n: int = 4096, timeout: float = 1.0) -> bytes:
        """Read what the host wrote to the device (from the master end)."""
        import select

        r, _, _ = select.select([self.master], [], [], timeout)
        return os.read(self.master, n) if r else b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class Collector:
    """A real MQTT subscriber that keeps every message it receives."""

    def __init__(
        self,
        url_host: str,
        port: int,
        topics: str | list[str] = "#",
        protocol: int = mqtt.MQTTv5,
        **client_kwargs: Any,
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"collector-{os.getpid()}-{id(self)}",
            protocol=protocol,
            **client_kwargs,
        )
        self.topics = [topics] if isinstance(topics, str) else topics

        def on_connect(client, userdata, flags, reason_code, properties):
            for t in self.topics:
                client.subscribe(t, qos=1)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            self._connected.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.messages.append(msg)

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(url_host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise AssertionError("collector could not subscribe")

    def payloads(self, topic_suffix: str = "") -> list[dict[str, Any]]:
        with self._lock:
            msgs = list(self.messages)
        return [json.loads(m.payload) for m in msgs if m.topic.endswith(topic_suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_cli(
    *args: str, input: bytes | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``capleak`` console script (falls back to ``python -m``)."""
    exe = shutil.which("capleak", path=os.path.dirname(sys.executable)) or shutil.which("capleak")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "edge.cli", *args]
    return subprocess.run(
        cmd, input=input, capture_output=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
