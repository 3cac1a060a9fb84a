"""The systemd notify protocol, without a dependency.

``Type=notify`` services tell systemd how they are doing by sending one
datagram per message to the AF_UNIX socket named in ``$NOTIFY_SOCKET``; a
leading ``@`` means the Linux abstract namespace (replace it with NUL).
Messages are ``KEY=VALUE`` lines: ``READY=1`` once serving, ``WATCHDOG=1``
at least every ``$WATCHDOG_USEC`` microseconds (capleak sends at half of it),
``STOPPING=1`` on shutdown, ``STATUS=...`` for ``systemctl status``
(``shared/docs/messaging-and-ops.md``, "Running as a service on a Raspberry Pi").

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op, so the
agent runs the same way from a terminal.

>>> n = Notifier(env={})
>>> n.enabled, n.ready(), n.watchdog_interval
(False, False, None)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notify messages to systemd, if it is listening."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._address: str | bytes | None = None
        raw = env.get("NOTIFY_SOCKET", "")
        if raw.startswith("@"):
            self._address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            self._address = raw
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.watchdog_interval = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram. True when it was sent."""
        if self._address is None:
            return False
        payload = "\n".join(lines).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.sendto(payload, self._address)
                return True
            except OSError as e:
                log.warning("systemd notify failed (%s): %s", lines[0] if lines else "", e)
                return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, or None when no watchdog is set.

    ``$WATCHDOG_PID``, when present, must be this process (systemd sets it so a
    child does not inherit the duty).

    >>> _watchdog_interval({"WATCHDOG_USEC": "30000000"})
    15.0
    >>> _watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    True
    """
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid is not None:
        with contextlib.suppress(ValueError):
            if int(pid) != os.getpid():
                return None
    return usec / 2e6


class Watchdog:
    """Pets the systemd watchdog only while a loop proves it is alive.

    The processing loop calls :meth:`beat` every time round; a background
    thread sends ``WATCHDOG=1`` every ``interval`` seconds *only if* a beat
    arrived since the last one. A stuck loop therefore stops the pings and
    systemd restarts the service (``WatchdogSec=``). :meth:`fail` stops them for
    good: the agent found itself broken (``storage.fault_after_errors``) and wants
    the restart.
    """

    def __init__(self, notifier: Notifier, interval: float | None = None) -> None:
        self.notifier = notifier
        self.interval = interval if interval is not None else notifier.watchdog_interval
        self._beat = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.missed = 0
        self.failed: str | None = None

    def beat(self) -> None:
        """Called by the watched loop: "I am still going round"."""
        self._beat.set()

    def fail(self, reason: str) -> None:
        """Never pet the watchdog again, whatever the loop does: systemd restarts us."""
        if self.failed is None:
            self.failed = reason
            if self._thread is not None:
                log.error("no more watchdog pings (%s): systemd will restart the agent", reason)

    def start(self) -> Watchdog:
        if self.interval is None or not self.notifier.enabled or self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            if self.failed is not None:
                continue
            if self._beat.is_set():
                self._beat.clear()
                if self.notifier.watchdog():
                    self.sent += 1
            else:
                self.missed += 1
                log.warning(
                    "processing loop silent for %.1f s: not petting the watchdog", self.interval
                )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
