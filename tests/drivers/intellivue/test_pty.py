"""The full IntelliVue session over real pseudo-terminals.

The simulated monitor serves the pty master (a thread, or its own process);
the driver session runs over pyserial on the pty's device path, exactly as it
would on ``/dev/ttyUSB0``.
"""

from __future__ import annotations

import io
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from drivers.intellivue.session import IntelliVueDecoder, IntelliVueSession, run_session
from drivers.intellivue.simulator import IntelliVueMonitor, constant_scenario, serve
from edge.vocabulary import Reading
from tests.support import REPO, Pty, wait_for

Command = Callable[[IntelliVueMonitor, float], bytes]


class Remote:
    """Thread-safe fault injection into the monitor thread."""

    def __init__(self) -> None:
        self._q: queue.Queue[Command] = queue.Queue()

    def do(self, command: Command) -> None:
        self._q.put(command)

    def __call__(self, monitor: IntelliVueMonitor, now: float) -> bytes:
        out = b""
        while not self._q.empty():
            out += self._q.get_nowait()(monitor, now) or b""
        return out


class Host:
    """The driver session over pyserial in a thread, collecting readings."""

    def __init__(self, path: str, **options: float) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.session = IntelliVueSession("mp90", options)
        self.readings: list[Reading] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_reading(self, r: Reading) -> None:
        with self._lock:
            self.readings.append(r)

    def _run(self) -> None:
        run_session(self.port, self.session, self._on_reading, self._stop.is_set, time.time)

    def signals(self, since: int = 0) -> list[str]:
        with self._lock:
            return [r.signal for r in self.readings[since:]]

    def count(self) -> int:
        with self._lock:
            return len(self.readings)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.port.close()


@pytest.fixture
def monitor_on_pty(pty_pair: Pty) -> Iterator[tuple[Pty, IntelliVueMonitor, Remote, io.BytesIO]]:
    start = time.time()
    monitor = IntelliVueMonitor(
        constant_scenario(start, nibp_every_s=3600), start=start, min_poll_period_s=0.2
    )
    remote = Remote()
    capture = io.BytesIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(pty_pair.master, monitor, stop),
        kwargs={"schedule": remote, "capture": capture},
        daemon=True,
    )
    thread.start()
    yield pty_pair, monitor, remote, capture
    stop.set()
    thread.join(10)


def test_session_over_pty_associates_polls_survives_faults(monitor_on_pty) -> None:
    pty, monitor, remote, capture = monitor_on_pty
    host = Host(
        pty.path,
        poll_interval_s=0.25,
        reassociate_delay_s=0.3,
        association_timeout_s=1.0,
        silence_s=1.0,
    )
    try:
        s = host.session
        # associate, answer the MDS create event, poll: NIBP and SpO2 arrive
        wait_for(lambda: {"sbp", "spo2"} <= set(host.signals()), 15, message="NIBP and SpO2")
        assert s.events["associated"] == 1 and monitor.received["event_result"] == 1
        values = {r.signal: r.value for r in host.readings}
        assert values == {"sbp": 118, "dbp": 76, "map": 90, "spo2": 97, "pulse": 72, "pi": 2.4}

        # the monitor drops the association: abort received, re-associated, data again
        remote.do(lambda m, now: m.abort())
        wait_for(lambda: s.events["abort_received"] == 1, 10, message="abort seen")
        wait_for(lambda: s.events["associated"] == 2, 10, message="re-association")
        mark = host.count()
        wait_for(lambda: "spo2" in host.signals(mark), 10, message="SpO2 after re-association")
        assert monitor.received["assoc_request"] == 2

        # a frame with a corrupt FCS is dropped, the session carries on
        remote.do(lambda m, now: m.corrupt_next(1) or b"")
        wait_for(lambda: s.rejected["checksum"] == 1, 10, message="corrupt frame dropped")
        mark = host.count()
        wait_for(lambda: "spo2" in host.signals(mark), 10, message="SpO2 after corrupt frame")
        assert s.events["associated"] == 2, dict(s.events)

        # silence: the host aborts, and re-associates once the monitor answers again
        remote.do(lambda m, now: m.silence(now, 2.0) or b"")
        wait_for(lambda: s.events["silence"] == 1, 10, message="silence detected")
        wait_for(lambda: s.events["associated"] == 3, 15, message="re-association after silence")
        mark = host.count()
        wait_for(lambda: "spo2" in host.signals(mark), 10, message="SpO2 after silence")
    finally:
        host.close()
    # the host released the association on the way out
    wait_for(lambda: monitor.received.get("release_request") == 1, 5, message="release")

    # the monitor's side of the conversation decodes offline to the same values
    offline = IntelliVueDecoder("mp90", {}).feed(capture.getvalue())
    assert {r.signal for r in offline} == {"sbp", "dbp", "map", "spo2", "pulse", "pi"}
    assert {r.value for r in offline if r.signal == "spo2"} == {97.0}


def test_simulator_process_with_driver(tmp_path: Path) -> None:
    link = tmp_path / "intellivue"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drivers.intellivue.simulator",
            "--link",
            str(link),
            "--nibp-every",
            "5",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        wait_for(link.exists, 15, message="simulator pty link")
        host = Host(str(link))
        try:
            wait_for(lambda: {"sbp", "spo2", "pulse"} <= set(host.signals()), 15, message="data")
        finally:
            host.close()
        assert host.session.events["associated"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0
    assert not link.exists()  # cleaned up on SIGTERM
