"""Delivery: one thread per receiver takes the oldest queued message and delivers it.

A message is removed from the store only when the receiver acknowledged it. A message
the receiver *refuses* (HL7 ``AE``/``AR``/``CE``/``CR``: HL7 v2.6 section 2.9.2, the
receiver processed it and will answer the same again; HTTP 4xx) is logged, counted and
moved to the dead letters, and the queue goes on: it is not retried forever. Anything
else (no connection, no answer within ``ack_timeout_s``, an answer for another
message, HTTP 5xx) is retried, the same message first, after a delay that doubles from
``retry_min_s`` to ``retry_max_s``; so the order of each receiver's messages is kept
and nothing is lost while a receiver is down or restarts.

A store that cannot be written when a delivered message is to be deleted (full disk,
I/O error) does not stop the sender: the error is logged and counted (``store_errors``)
and the same message is delivered again after the backoff, so the receiver may see it
twice (the same MSH-10): delivery is at least once, as after a crash between the
receiver's acknowledgement and the deletion.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edge.messaging.commands import quote
from edge.station.gateway.hl7v2 import parse_ack
from edge.station.gateway.mllp import MllpLink, ProtocolError
from edge.station.gateway.store import Row, Store

log = logging.getLogger(__name__)


class Refused(Exception):
    """The receiver answered and refused the message: do not send it again."""


class Retry(Exception):
    """The message was not delivered this time: send it again later."""


class Receiver(Protocol):
    name: str

    def deliver(self, row: Row) -> None:
        """Return once ``row`` is acknowledged; raise :class:`Refused` or :class:`Retry`."""
        ...

    def close(self) -> None: ...


class Hl7Receiver:
    """HL7 v2 over MLLP: one message, then its ``ACK`` (or ``ORA^R41``), then the next."""

    name = "hl7"

    def __init__(self, link: MllpLink) -> None:
        self.link = link

    def deliver(self, row: Row) -> None:
        try:
            answer = self.link.exchange(row.body.encode("utf-8"))
        except (OSError, ProtocolError) as e:
            raise Retry(f"{self.link.host}:{self.link.port}: {e}") from None
        try:
            ack = parse_ack(answer.decode("utf-8", "replace"))
        except ValueError as e:
            self.link.close()
            raise Retry(f"unreadable acknowledgement: {e}") from None
        if ack.control_id != row.control_id:
            self.link.close()
            raise Retry(f"acknowledgement for {quote(ack.control_id)}, not for {row.control_id}")
        if not ack.accepted:
            raise Refused(f"MSA {ack.code}{': ' + ack.text if ack.text else ''}")

    def close(self) -> None:
        self.link.close()


class FhirDirectory:
    """FHIR Bundles as files: ``DIR/<created>-<id>.json``, written whole (temp + rename)."""

    name = "fhir"

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def deliver(self, row: Row) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(row.created))
        path = self.dir / f"{stamp}-{row.id:012d}-{row.kind}.json"
        tmp = path.with_suffix(".tmp")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(row.body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise Retry(f"cannot write {path}: {e}") from None

    def close(self) -> None:
        pass


class FhirServer:
    """FHIR Bundles POSTed (transaction) to a server's base URL."""

    name = "fhir"

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def deliver(self, row: Row) -> None:
        req = urllib.request.Request(
            self.url,
            data=row.body.encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read(65536)
        except urllib.error.HTTPError as e:
            # 408 (timeout) and 429 (too many requests) ask for a later try; other 4xx refuse.
            if 400 <= e.code < 500 and e.code not in (408, 429):
                raise Refused(f"HTTP {e.code} {e.reason}") from None
            raise Retry(f"HTTP {e.code} {e.reason}") from None
        except (OSError, ValueError) as e:
            raise Retry(f"{self.url}: {e}") from None

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float
    cap: float

    def next(self, delay: float) -> float:
        return self.first if delay <= 0 else min(delay * 2, self.cap)


class Sender(threading.Thread):
    """Delivers one receiver's queue, in order, until stopped."""

    def __init__(
        self,
        store: Store,
        receiver: Receiver,
        backoff: Backoff,
        stop: threading.Event,
        wake: threading.Event,
    ) -> None:
        super().__init__(name=f"gateway-{receiver.name}", daemon=True)
        self.store = store
        self.receiver = receiver
        self.backoff = backoff
        self.stop_event = stop
        self.wake = wake
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _stored(self, change: Callable[..., None], *args: object) -> bool:
        """Apply ``change`` to the store; False (logged, counted) if the store failed."""
        try:
            change(*args)
        except (sqlite3.Error, OSError) as e:
            self._count("store_errors")
            log.error(
                "%s: the gateway store failed (%s: %s); the message stays queued and is sent again",
                self.receiver.name,
                type(e).__name__,
                e,
            )
            return False
        return True

    def run(self) -> None:
        delay = 0.0
        down_since: float | None = None
        try:
            while not self.stop_event.is_set():
                row = self.store.head(self.receiver.name)
                if row is None:
                    self.wake.wait(0.5)
                    self.wake.clear()
                    continue
                try:
                    self.receiver.deliver(row)
                except Refused as e:
                    log.error(
                        "%s refused %s message %s (%s): moved to the dead letters",
                        self.receiver.name,
                        row.kind,
                        row.control_id,
                        e,
                    )
                    if self._stored(self.store.dead, row, str(e), time.time()):
                        self._count("refused")
                        delay = 0.0
                    else:
                        delay = self.backoff.next(delay)
                        self.stop_event.wait(delay)
                    continue
                except Retry as e:
                    self._count("retries")
                    if down_since is None:
                        down_since = time.monotonic()
                        log.warning("%s: not delivered, will retry: %s", self.receiver.name, e)
                    else:
                        log.debug("%s: still not delivered: %s", self.receiver.name, e)
                    delay = self.backoff.next(delay)
                    self.stop_event.wait(delay)
                    continue
                if not self._stored(self.store.delete, row.id):
                    delay = self.backoff.next(delay)
                    self.stop_event.wait(delay)
                    continue
                self._count("delivered")
                if down_since is not None:
                    log.warning(
                        "%s: delivering again after %.1f s",
                        self.receiver.name,
                        time.monotonic() - down_since,
                    )
                    down_since = None
                delay = 0.0
        except Exception:
            log.exception("%s: the sender failed", self.receiver.name)
            self._count("errors")
            raise
        finally:
            self.receiver.close()
