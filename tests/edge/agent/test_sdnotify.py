"""The notify protocol against a real AF_UNIX datagram socket (path and abstract)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent.sdnotify import Notifier, Watchdog


class NotifySocket:
    """What systemd listens on: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(5)

    def recv(self) -> str:
        return self.sock.recv(4096).decode()

    def drain(self, seconds: float) -> list[str]:
        got = []
        self.sock.settimeout(0.05)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                got.append(self.sock.recv(4096).decode())
        self.sock.settimeout(5)
        return got


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    path = str(tmp_path / "notify")
    s = NotifySocket(path)
    yield s, path
    s.sock.close()


def test_ready_status_stopping_arrive_as_datagrams(path_socket) -> None:
    sock, path = path_socket
    n = Notifier(env={"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("3 devices")
    assert sock.recv() == "READY=1\nSTATUS=3 devices"
    assert n.status("reconnecting")
    assert sock.recv() == "STATUS=reconnecting"
    assert n.stopping()
    assert sock.recv() == "STOPPING=1"
    n.close()


def test_abstract_namespace_socket() -> None:
    name = f"capleak-test-{os.getpid()}-{time.monotonic_ns()}"
    s = NotifySocket(b"\0" + name.encode())
    try:
        n = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert n.watchdog()
        assert s.recv() == "WATCHDOG=1"
    finally:
        s.sock.close()


def test_no_socket_is_a_quiet_no_op() -> None:
    n = Notifier(env={})
    assert not n.enabled
    assert not n.ready()
    assert n.watchdog_interval is None


def test_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert n.ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(env=env).watchdog_interval == 1.0
    assert Notifier(env={**env, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval is None
    assert Notifier(env={**env, "WATCHDOG_USEC": "junk"}).watchdog_interval is None


def test_watchdog_pings_only_while_the_loop_beats(path_socket) -> None:
    sock, path = path_socket
    n = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})  # every 50 ms
    wd = Watchdog(n).start()
    try:
        deadline = time.monotonic() + 0.6
        got: list[str] = []
        while time.monotonic() < deadline:
            wd.beat()
            got += sock.drain(0.02)
        assert got.count("WATCHDOG=1") >= 3
        # The loop stops beating: the pings stop, so systemd would restart us.
        sock.drain(0.15)  # at most one in flight from the last beat
        assert sock.drain(0.5) == []
        assert wd.missed >= 3
        wd.beat()
        assert sock.drain(0.3).count("WATCHDOG=1") == 1
    finally:
        wd.stop()
        n.close()
