"""The gateway's own store: SQLite (WAL, ``synchronous=FULL``), as the agent's outbox.

What the gateway received is committed here, in one transaction with the ``msg_id``
that de-duplicates it, *before* the MQTT callback returns (paho acknowledges a QoS 1
message after the callback), so a crash loses nothing the broker let go of. A
message leaves the ``queue`` only when its receiver acknowledged it (``delete``), or
moves to ``dead_letter`` when the receiver refused it (``dead``): HL7 ``AE``/``AR``,
an HTTP 4xx. Each channel (``hl7``, ``fhir``) is delivered in ``id`` order.

Bounded: at most ``max_messages`` queued (the oldest ``vitals`` rows are dropped first,
counted in ``drops``; alerts never), ``dedup_size`` remembered ``msg_id``s,
``dead_letters_kept`` dead letters.

The ``alerts`` table is the gateway's view of every standing alert (active or
latched) per bed, for the periodic PCD-04 ``continue``; ``beds`` holds each bed's last
alert-event ``seq``, so a stale ``alerts/active`` list is recognised.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STORE_FILE = "gateway.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    bed TEXT NOT NULL,
    control_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_channel ON queue (channel, id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    bed TEXT NOT NULL,
    control_id TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (n INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS alerts (
    bed TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    event TEXT NOT NULL,
    last_sent REAL NOT NULL,
    PRIMARY KEY (bed, alert_id)
);
CREATE TABLE IF NOT EXISTS beds (bed TEXT PRIMARY KEY, alert_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One queued message for one channel."""

    id: int
    channel: str
    kind: str
    bed: str
    control_id: str
    body: str
    created: float


@dataclass(frozen=True, slots=True)
class Tracked:
    """A standing alert of one bed, as last reported."""

    bed: str
    alert_id: str
    event: dict[str, Any]
    last_sent: float


class Store:
    """The queue, the de-duplication memory and the standing alerts, in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = 100_000,
        dedup_size: int = 100_000,
        dead_letters_kept: int = 1000,
    ) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self.dedup_size = dedup_size
        self.dead_letters_kept = dead_letters_kept
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("gateway store %s: journal_mode is %s, not WAL", self.path, mode)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, state_dir: str | Path, **kwargs: Any) -> Store:
        d = Path(state_dir)
        d.mkdir(parents=True, exist_ok=True)
        return cls(d / STORE_FILE, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error), under the lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # -- inside a transaction -----------------------------------------------------------

    def first_sight(self, msg_id: str) -> bool:
        """Remember ``msg_id``; False when it was seen before (a duplicate)."""
        cur = self._db.execute("INSERT OR IGNORE INTO seen (msg_id) VALUES (?)", (msg_id,))
        if cur.rowcount == 0:
            return False
        n = cur.lastrowid or 0
        if n % 1000 == 0:  # trim in steps, not on every message
            self._db.execute("DELETE FROM seen WHERE n <= ?", (n - self.dedup_size,))
        return True

    def enqueue(
        self, channel: str, kind: str, bed: str, control_id: str, body: str, now: float
    ) -> None:
        self._db.execute(
            "INSERT INTO queue (channel, kind, bed, control_id, body, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (channel, kind, bed, control_id, body, now),
        )
        self._bound()

    def _bound(self) -> None:
        excess = self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0] - self.max_messages
        if excess <= 0:
            return
        rows = self._db.execute(
            "SELECT id FROM queue WHERE kind = 'vitals' ORDER BY id LIMIT ?", (excess,)
        ).fetchall()
        if rows:
            self._db.execute("DELETE FROM queue WHERE kind = 'vitals' AND id <= ?", (rows[-1][0],))
            self._add("drops", len(rows))
            total = self._get("drops")
            if total & (total - 1) == 0 or total % 1000 == 0:  # 1, 2, 4, ... and every 1000
                log.warning("gateway store full: dropped the oldest vitals (%d so far)", total)
        if excess > len(rows):
            log.warning("gateway store over its bound by %d: only alerts left", excess - len(rows))

    def track(self, bed: str, alert_id: str, event: dict[str, Any], last_sent: float) -> None:
        self._db.execute(
            "INSERT INTO alerts (bed, alert_id, event, last_sent) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bed, alert_id) DO UPDATE SET event = excluded.event, "
            "last_sent = excluded.last_sent",
            (bed, alert_id, json.dumps(event), last_sent),
        )

    def untrack(self, bed: str, alert_id: str) -> None:
        self._db.execute("DELETE FROM alerts WHERE bed = ? AND alert_id = ?", (bed, alert_id))

    def tracked(self, bed: str | None = None) -> list[Tracked]:
        sql = "SELECT bed, alert_id, event, last_sent FROM alerts"
        args: tuple[Any, ...] = ()
        if bed is not None:
            sql, args = sql + " WHERE bed = ?", (bed,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY bed, alert_id", args).fetchall()
        return [Tracked(b, a, json.loads(e), t) for b, a, e, t in rows]

    def alert_seq(self, bed: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT alert_seq FROM beds WHERE bed = ?", (bed,)).fetchone()
        return int(row[0]) if row else -1

    def set_alert_seq(self, bed: str, seq: int) -> None:
        self._db.execute(
            "INSERT INTO beds (bed, alert_seq) VALUES (?, ?) ON CONFLICT (bed) DO UPDATE "
            "SET alert_seq = max(alert_seq, excluded.alert_seq)",
            (bed, seq),
        )

    def _get(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _add(self, name: str, n: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
            "SET value = value + excluded.value",
            (name, n),
        )

    # -- the senders --------------------------------------------------------------------

    def head(self, channel: str) -> Row | None:
        """The oldest queued message of ``channel``."""
        with self._lock:
            r = self._db.execute(
                "SELECT id, channel, kind, bed, control_id, body, created FROM queue "
                "WHERE channel = ? ORDER BY id LIMIT 1",
                (channel,),
            ).fetchone()
        return Row(*r) if r else None

    def delete(self, row_id: int) -> None:
        """The receiver acknowledged it."""
        with self.transaction():
            self._db.execute("DELETE FROM queue WHERE id = ?", (row_id,))
            self._add("delivered")

    def dead(self, row: Row, reason: str, now: float) -> None:
        """The receiver refused it: keep it (bounded) for diagnosis, and go on."""
        with self.transaction():
            self._db.execute("DELETE FROM queue WHERE id = ?", (row.id,))
            self._db.execute(
                "INSERT INTO dead_letter (id, channel, kind, bed, control_id, body, reason, time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.channel, row.kind, row.bed, row.control_id, row.body, reason, now),
            )
            self._db.execute(
                "DELETE FROM dead_letter WHERE id NOT IN "
                "(SELECT id FROM dead_letter ORDER BY id DESC LIMIT ?)",
                (self.dead_letters_kept,),
            )
            self._add("dead_letters")

    def depth(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is None:
                return int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM queue WHERE channel = ?", (channel,)
                ).fetchone()[0]
            )

    def counters(self) -> dict[str, int]:
        """Persistent counters: ``delivered``, ``dead_letters``, ``drops``."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
        return {"delivered": 0, "dead_letters": 0, "drops": 0, **{n: int(v) for n, v in rows}}

    def dead_letters(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, channel, kind, bed, control_id, reason, time FROM dead_letter "
                "ORDER BY id"
            ).fetchall()
        keys = ("id", "channel", "kind", "bed", "control_id", "reason", "time")
        return [dict(zip(keys, r, strict=True)) for r in rows]
