"""The agent as the demo runs it: ``capleak run`` in its own process, supervised the way
systemd supervises it at the bedside.

The demo is the agent's service manager. It binds an AF_UNIX datagram socket, starts
the agent with ``$NOTIFY_SOCKET`` naming it, and learns how the agent is doing from
the notify messages the agent already sends (``edge.agent.sdnotify``; the protocol:
``shared/docs/messaging-and-ops.md``, "Running as a service on a Raspberry Pi"):
``READY=1`` once the outbox is open, the broker tried and every device opened or
failed; ``STATUS=...`` when a device comes or goes; ``STOPPING=1`` on shutdown;
``WATCHDOG=1`` only if a watchdog interval is set (the demo sets none). The agent's
log lines are kept and echoed for the person watching; no decision depends on them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("capleak.demo")

#: ``sockaddr_un.sun_path`` holds 108 bytes on Linux (104 on the BSDs); a longer path
#: (a deep ``$TMPDIR``) gets a name in the Linux abstract namespace instead.
MAX_SOCKET_PATH = 100
#: Larger than any notify message the agent sends (a few short ``KEY=VALUE`` lines).
DATAGRAM_MAX = 4096


def notify_fields(datagram: bytes) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of one notify message (the last value of a key wins).

    >>> notify_fields(b"READY=1\\nSTATUS=3/3 devices online, broker connected, outbox 0")
    {'READY': '1', 'STATUS': '3/3 devices online, broker connected, outbox 0'}
    >>> notify_fields(b"\\xff garbage without equals\\nWATCHDOG=1")
    {'WATCHDOG': '1'}
    """
    fields: dict[str, str] = {}
    for line in datagram.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


class NotifySocket:
    """The service manager's end of the notify protocol: what the agent last said.

    :attr:`ready` and :attr:`stopping` are set by ``READY=1`` and ``STOPPING=1``;
    :attr:`status` is the last ``STATUS=``; :attr:`watchdog_pings` counts ``WATCHDOG=1``.
    :attr:`address` is the value for the child's ``$NOTIFY_SOCKET``.
    """

    def __init__(self, workdir: Path, name: str = "agent.notify") -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = workdir / name
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
            self._sock.bind(str(path))
            self.address = str(path)
            self._path: Path | None = path
        else:
            abstract = f"capleak-demo-{os.getpid()}-{id(self):x}"
            self._sock.bind(b"\0" + abstract.encode())
            self.address = "@" + abstract
            self._path = None
        self._sock.settimeout(0.2)  # so close() is noticed without a wake-up datagram
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.status = ""
        self.watchdog_pings = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="agent-notify", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                datagram = self._sock.recv(DATAGRAM_MAX)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self.take(datagram)

    def take(self, datagram: bytes) -> None:
        """Apply one notify message (the receiving thread calls this)."""
        fields = notify_fields(datagram)
        with self._lock:
            if "STATUS" in fields:
                self.status = fields["STATUS"]
            if fields.get("WATCHDOG") == "1":
                self.watchdog_pings += 1
        if fields.get("READY") == "1":
            self.ready.set()
        if fields.get("STOPPING") == "1":
            self.stopping.set()
        log.debug("agent notify: %s", fields)

    def close(self) -> None:
        """Stop listening, after taking what the agent sent before it exited."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(2)
        self._sock.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                self.take(self._sock.recv(DATAGRAM_MAX))
        self._sock.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()


def agent_command(config: Path) -> list[str]:
    """``capleak run --config CONFIG`` with this interpreter."""
    return [sys.executable, "-m", "edge.cli", "run", "--config", str(config)]


@dataclass
class AgentProcess:
    """``capleak run`` in its own process, with the demo as its service manager.

    :meth:`start` binds a :class:`NotifySocket` in ``workdir`` and passes it as
    ``$NOTIFY_SOCKET`` (any watchdog settings of the demo's own service are not
    inherited). The agent's log lines are kept in :attr:`lines` and echoed when
    ``echo``, for display only. ``command`` replaces ``capleak run`` (tests).
    """

    config: Path
    clock_spec: str
    workdir: Path
    echo: bool = True
    command: Sequence[str] | None = None
    lines: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    notices: NotifySocket | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> AgentProcess:
        self.notices = NotifySocket(self.workdir)
        self.ready = self.notices.ready
        env = {
            **os.environ,
            "CAPLEAK_CLOCK": self.clock_spec,
            "PYTHONUNBUFFERED": "1",
            "NOTIFY_SOCKET": self.notices.address,
        }
        for inherited in ("WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(inherited, None)
        try:
            self.proc = subprocess.Popen(
                list(self.command) if self.command is not None else agent_command(self.config),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                start_new_session=True,
            )
        except OSError:
            self.notices.close()
            raise
        threading.Thread(target=self._pump, name="agent-log", daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(f"  agent | {line}", flush=True)

    def wait_ready(self, timeout: float) -> bool:
        """True once the agent said ``READY=1``; False if it exited or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if self.exited() or time.monotonic() > deadline:
                return self.ready.is_set()
        return True

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.notices is not None:
            self.notices.close()
        return int(self.proc.returncode)
