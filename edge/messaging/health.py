"""The agent's own health: error and drop counters, consecutive failures, active faults.

One :class:`Health` per agent, shared by the processing loop, the dispatcher and the
publisher (thread-safe). What it holds goes out in every retained ``status``
(``errors``, ``dropped``, ``faults``; see ``docs/messaging.md``): an error that is
only logged is invisible at the central station.

Consecutive failures: each place that can fail (``processing``, ``storage``, ...)
reports :meth:`Health.failed` or :meth:`Health.succeeded`; ``fault_after``
failures in a row from one place call ``on_fault(where, reason)`` once (the
runtime raises the technical alert ``agent_fault`` and stops the systemd
watchdog), until a success from that place resets the count.

>>> h = Health(fault_after=2)
>>> h.failed("storage", "disk I/O error"), h.failed("storage", "disk I/O error")
(False, True)
>>> h.snapshot()["errors"]
{'storage': 2}
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FaultHandler = Callable[[str, str], None]


class Health:
    """Counters and faults for ``status``; calls ``on_fault`` after ``fault_after`` failures."""

    def __init__(self, fault_after: int = 5, on_fault: FaultHandler | None = None) -> None:
        if fault_after < 1:
            raise ValueError("fault_after must be positive")
        self.fault_after = fault_after
        self.on_fault = on_fault
        self._lock = threading.Lock()
        self._errors: collections.Counter[str] = collections.Counter()
        self._dropped: collections.Counter[str] = collections.Counter()
        self._run: collections.Counter[str] = collections.Counter()  # consecutive failures
        self._faults: dict[str, str] = {}

    def failed(self, where: str, reason: str) -> bool:
        """Count one failure at ``where``; True when this one reached ``fault_after``."""
        with self._lock:
            self._errors[where] += 1
            self._run[where] += 1
            tripped = self._run[where] == self.fault_after
        if tripped and self.on_fault is not None:
            self.on_fault(where, reason)
        return tripped

    def succeeded(self, where: str) -> None:
        with self._lock:
            self._run.pop(where, None)

    def consecutive(self, where: str) -> int:
        with self._lock:
            return self._run[where]

    def drop(self, what: str, n: int = 1) -> None:
        """Count ``n`` things lost or refused (``readings``, ``vitals``, ``replies``, ...)."""
        if n > 0:
            with self._lock:
                self._dropped[what] += n

    def dropped(self, what: str) -> int:
        with self._lock:
            return self._dropped[what]

    def set_fault(self, name: str, reason: str) -> None:
        """A standing condition shown in ``status.faults`` until :meth:`clear_fault`."""
        with self._lock:
            self._faults[name] = reason

    def clear_fault(self, name: str) -> None:
        with self._lock:
            self._faults.pop(name, None)

    def snapshot(self) -> dict[str, Any]:
        """The ``status`` fields: ``errors``, ``dropped``, ``faults`` (empty ones included)."""
        with self._lock:
            return {
                "errors": dict(self._errors),
                "dropped": dict(self._dropped),
                "faults": dict(self._faults),
            }


class Throttle:
    """Rate-limited logging: the first occurrence, then at most one line per ``period_s``.

    The line says how many were suppressed in between, so nothing is hidden:

    >>> t = Throttle(60, clock=lambda: 0.0)
    >>> t.ready(), t.ready(), t.suppressed
    (True, False, 1)
    """

    def __init__(self, period_s: float = 60.0, clock: Callable[[], float] | None = None) -> None:
        self.period_s = period_s
        self._clock = clock or time.monotonic
        self._next = float("-inf")
        self.suppressed = 0
        self._lock = threading.Lock()

    def ready(self) -> bool:
        with self._lock:
            now = self._clock()
            if now >= self._next:
                self._next = now + self.period_s
                return True
            self.suppressed += 1
            return False

    def log(self, logger: logging.Logger, level: int, msg: str, *args: Any) -> None:
        if self.ready():
            with self._lock:
                n, self.suppressed = self.suppressed, 0
            suffix = f" ({n} more like it since the last report)" if n else ""
            logger.log(level, msg + suffix, *args, stacklevel=2)
