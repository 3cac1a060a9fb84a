"""The agent as a real subprocess, for the runtime and hardware-in-the-loop tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from edge.clock import SharedScaledClock
from tests.support import REPO, wait_for

START = 1_767_571_200.0  # 2026-01-05T00:00:00Z: simulated courses start here


def write_config(
    path: Path,
    *,
    broker_url: str,
    state_dir: Path,
    devices: list[dict[str, Any]] = (),  # type: ignore[assignment]
    extra: str = "",
    bed: str = "b1",
) -> Path:
    lines = [
        "[bed]",
        'site = "s1"',
        'unit = "u1"',
        f'bed = "{bed}"',
        "[broker]",
        f'url = "{broker_url}"',
        "[storage]",
        f'state_dir = "{state_dir}"',
    ]
    for d in devices:
        lines.append("[[devices]]")
        for k, v in d.items():
            lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class Agent:
    """``capleak run`` as a subprocess; its output is collected line by line."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env.setdefault("PYTHONPATH", str(REPO))
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Agent:
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=str(REPO),
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout: float = 20) -> None:
        wait_for(
            lambda: any(text in line for line in self.lines) or self._died(),
            timeout,
            message=f"agent log {text!r}",
        )
        assert any(text in line for line in self.lines), self.output

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close_gracefully(self, timeout: float = 20) -> int | None:
        """SIGTERM; SIGKILL if it does not stop in time (benchmarks must not leave it)."""
        try:
            return self.terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def kill9(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()


class NotifySocket:
    """What systemd listens on for ``Type=notify``: a bound AF_UNIX datagram socket."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []
        self._stop = False
        threading.Thread(target=self._recv, daemon=True).start()

    def _recv(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def count(self, line: str) -> int:
        return sum(line in m.split("\n") for m in list(self.messages))

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def outbox_rows(state_dir: Path, kind: str | None = None) -> list[tuple[int, str, str]]:
    """(seq, kind, topic) of the messages waiting in the agent's outbox (read-only)."""
    db = state_dir / "outbox.sqlite3"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        q = "SELECT seq, kind, topic FROM outbox"
        rows = con.execute(q + (" WHERE kind = ?" if kind else "") + " ORDER BY seq",
                           (kind,) if kind else ()).fetchall()  # fmt: skip
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [(int(a), str(b), str(c)) for a, b, c in rows]


def masimo_line(t: float, spo2: int, bpm: int) -> bytes:
    """A Masimo ASCII 1 line (``shared/docs/protocols.md``) for time ``t`` (UTC)."""
    tm = time.gmtime(t)
    stamp = time.strftime("%m/%d/%y %H:%M:%S", tm)
    fields = f"SN=0000093112 SPO2={spo2:03d}% BPM={bpm:03d} PI=02.50% ALARM=0000 EXC=000800"
    return f"{stamp} {fields}\r\n".encode()


class MasimoStream:
    """A pulse oximeter streaming one ASCII 1 line every ``period`` s on a pty (a thread)."""

    def __init__(self, pty: Any, period: float = 0.2, spo2: int = 97, bpm: int = 70) -> None:
        self.pty = pty
        self.period = period
        self.spo2 = spo2
        self.bpm = bpm
        self.sent = 0
        self.paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            if self.paused:
                continue
            with contextlib.suppress(OSError):
                self.pty.write(masimo_line(time.time(), self.spo2, self.bpm))
                self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class SimProcess:
    """One device simulator process (tests.hil.simdev or ``capleak simulate``)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            cwd=str(REPO),
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()


def simdev(clock: SharedScaledClock, driver: str, link: Path, scenario: str, period: float = 0):
    args = [sys.executable, "-m", "tests.hil.simdev", "--driver", driver, "--link", str(link)]
    args += ["--scenario", scenario] + (["--period", str(period)] if period else [])
    return SimProcess(args, {"CAPLEAK_CLOCK": clock.spec})
