"""The store-and-forward outbox: every outgoing message is on disk before it is sent.

``shared/docs/messaging-and-ops.md`` ("paho-mqtt 2.x facts"): paho keeps
unacknowledged QoS 1 messages in memory only, so a process restart loses them.
The outbox closes that gap:

* :meth:`Outbox.put` assigns the next ``seq`` (monotonic per agent, persisted),
  a unique ``msg_id`` (uuid4) and the ``time``, and **commits** the message in
  one transaction before anyone may publish it. SQLite runs in WAL mode with
  ``synchronous=FULL`` for every commit (a commit survives power loss; NORMAL may
  lose the last ones). One commit costs one fsync of the WAL; ``scripts/bench-mqtt``
  measures it and ``docs/benchmarks.md`` records the figure.
* The publisher reads :meth:`pending` in ``seq`` order and deletes a row
  (:meth:`delete`, or ``put_many(..., delete=...)`` in its group commit: what one
  drain cycle staged and what it saw acknowledged, one transaction) only once the
  broker's PUBACK arrived; after a reconnect or a restart the
  remaining rows are published again, in order (at-least-once: subscribers
  de-duplicate by ``msg_id``).
* It is bounded by ``StorageConfig.outbox_max_messages``: when full, the oldest
  ``vitals`` go first, then the oldest ``trends``; alerts, state and replies are
  never dropped (the outbox grows past its bound rather than lose one). Drops are
  counted persistently and reported in the retained ``status``.

The ``meta`` table also keeps small persistent state for the agent (the seq
counter, drop counts, the number of boots, the alert book's snapshot) through
:meth:`get_state` / :meth:`set_state`.

``seq`` is also kept outside the database, in a small ``seq`` file beside it
(:class:`SeqFile`; :meth:`in_dir` uses it): a damaged WAL header makes SQLite drop the
commits in the WAL, and a zero-length (or replaced) outbox starts empty, and either
would silently hand out old ``seq`` numbers again. The file holds a *reservation*:
``base`` (a ``seq`` the database had reached) and ``limit`` (no ``seq`` at or above
it was handed out); it is rewritten atomically, with fsync, before ``seq`` passes
``limit`` (every ``seq_reserve`` messages) and exactly on :meth:`close`. On open, a
database behind ``base`` has lost commits: ``seq`` goes on from ``limit`` (never a
number twice), the reset is logged and kept in :attr:`Outbox.faults` (``seq_reset``)
for the runtime to show in ``status`` and raise as a technical alert.

Opening writes once (the database must take a write: a read-only or immutable file
fails here, at start-up, not with the first alert).

Every write is one transaction (:meth:`Outbox._transaction`): ``BEGIN IMMEDIATE`` ...
``COMMIT``, and ``ROLLBACK`` on any error, including a failed ``COMMIT`` (a full
disk) and errors after which SQLite already rolled back by itself. One transient
error (an I/O error, a full disk, a locked file) fails that one call and leaves the
connection ready for the next; it never leaves a transaction open.

A row that the MQTT client refuses for good (an invalid topic, a payload too large)
or that the broker refuses (a failure PUBACK) is moved to the ``dead_letter`` table
(:meth:`dead_letter`) so that it cannot block the rows behind it; the number moved
there is persistent and reported in ``status.dead_letters``. The table keeps the
last :data:`DEAD_LETTER_KEEP` rows for diagnosis.

Thread-safe: one connection guarded by a lock (the publisher thread deletes
while the application thread puts).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.clock import Clock, SystemClock
from edge.messaging.mqtt import topic_name_problem
from edge.vocabulary import iso_time

log = logging.getLogger(__name__)

#: Kinds of message, in the order they are dropped when the outbox is full.
DROPPABLE = ("vitals", "trends")
KINDS = ("vitals", "trends", "alert", "state", "reply")

OUTBOX_FILE = "outbox.sqlite3"
SEQ_FILE = "seq"
#: What a failed outbox write raises (a full disk, an I/O error, a locked or damaged file).
STORAGE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, OSError)

#: Dead-lettered rows kept for diagnosis (the count of all of them is kept apart).
DEAD_LETTER_KEEP = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    correlation BLOB
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    correlation BLOB,
    reason TEXT NOT NULL,
    time TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Message:
    """One committed outgoing message."""

    seq: int
    msg_id: str
    kind: str
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation: bytes | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to :meth:`Outbox.put_many`: the body gets ``msg_id``, ``seq`` and ``time``."""

    topic: str
    body: Mapping[str, Any]
    kind: str
    retain: bool = False
    qos: int = 1
    correlation: bytes | None = None


@dataclass(frozen=True, slots=True)
class SeqMark:
    """What the ``seq`` file says: ``base`` was reached, nothing at or above ``limit`` used."""

    base: int
    limit: int
    time: float  # the wall clock when it was written (a lower bound for the next start's)


class SeqFile:
    """The ``seq`` reservation beside the outbox, replaced atomically (write, fsync, rename).

    >>> import tempfile, pathlib
    >>> f = SeqFile(pathlib.Path(tempfile.mkdtemp()) / "seq")
    >>> f.read() is None
    True
    >>> f.write(SeqMark(7, 107, 1.5e9)); f.read()
    SeqMark(base=7, limit=107, time=1500000000.0)
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> SeqMark | None:
        """The mark, None when there is no file; ``ValueError`` when it is damaged."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            d = json.loads(text)
            mark = SeqMark(int(d["base"]), int(d["limit"]), float(d["time"]))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{self.path} is damaged ({type(e).__name__}: {e})") from None
        if not 1 <= mark.base <= mark.limit or not math.isfinite(mark.time):
            raise ValueError(f"{self.path} is damaged (base {mark.base}, limit {mark.limit})")
        return mark

    def write(self, mark: SeqMark) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"base": mark.base, "limit": mark.limit, "time": mark.time})
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself survives a power cut
        finally:
            os.close(dfd)


class Outbox:
    """SQLite outbox at ``path`` (a file; use :meth:`in_dir` for ``StorageConfig.state_dir``).

    ``seq_file``: keep ``seq`` also outside the database (module docs), reserving
    ``seq_reserve`` numbers per write of the file. :attr:`faults` holds what the open
    found (``seq_reset``, ``seq_file``), :attr:`previous_time` the wall time of the
    last write of the ``seq`` file (for the runtime's check of the clock at boot).
    """

    def __init__(
        self,
        path: str | Path,
        max_messages: int = 200_000,
        clock: Clock | None = None,
        *,
        seq_file: Path | None = None,
        seq_reserve: int = 100,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be positive")
        if seq_reserve < 1:
            raise ValueError("seq_reserve must be positive")
        self.path = Path(path)
        self.max_messages = max_messages
        self.clock = clock or SystemClock()
        self.faults: dict[str, str] = {}
        self.previous_time: float | None = None
        self._seq_file = SeqFile(seq_file) if seq_file is not None else None
        self._seq_reserve = seq_reserve
        # seqs below it may be handed out without writing a new mark first
        self._seq_limit = -math.inf if seq_file is not None else math.inf
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("outbox %s: journal_mode is %s, not WAL", self.path, mode)
            self._db.execute("PRAGMA synchronous=FULL")
            fresh = not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            self._db.executescript(_SCHEMA)
            self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            with self._transaction():  # a read-only file fails here, not with the first alert
                self._set("opened", iso_time(self.clock.now()))
                self._check_seq(fresh)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def in_dir(
        cls,
        state_dir: str | Path,
        max_messages: int = 200_000,
        clock: Clock | None = None,
        *,
        seq_reserve: int = 100,
    ) -> Outbox:
        d = Path(state_dir)
        d.mkdir(parents=True, exist_ok=True)
        return cls(
            d / OUTBOX_FILE, max_messages, clock, seq_file=d / SEQ_FILE, seq_reserve=seq_reserve
        )

    def close(self) -> None:
        with self._lock:
            if self._seq_file is not None:
                try:  # exact on a clean stop: the next open checks against it
                    nxt = int(self._get("next_seq", 1))
                    self._seq_file.write(SeqMark(nxt, nxt, self.clock.now()))
                except (sqlite3.Error, OSError) as e:
                    log.error("outbox %s: cannot write %s: %s", self.path, self._seq_file.path, e)
            self._db.close()

    # -- seq outside the database ------------------------------------------------------

    def _check_seq(self, fresh: bool) -> None:
        """On open (in its transaction): compare the database's seq with the ``seq`` file.

        ``fresh``: the database had no tables (zero-length, replaced, or its WAL, which
        held everything, ignored). Beside a ``seq`` file that is a loss, whatever the
        numbers say. Otherwise a database behind the file's ``base`` lost commits; a
        loss of only the commits since the last mark (fewer than ``seq_reserve``)
        cannot be told from a crash and goes unnoticed.
        """
        if self._seq_file is None:
            return
        db_next = max(
            int(self._get("next_seq", 1)),
            1 + max(self._max_seq("outbox"), self._max_seq("dead_letter")),
        )
        try:
            mark = self._seq_file.read()
        except ValueError as e:
            mark = None
            self.faults["seq_file"] = f"{e}; rewritten from the outbox (seq {db_next})"
            log.error("outbox %s: %s", self.path, self.faults["seq_file"])
        if mark is not None:
            self.previous_time = mark.time
            if db_next < mark.base or fresh:
                why = (
                    f"the outbox's seq went back from {mark.base} to {db_next} (an empty, damaged, "
                    f"truncated or replaced {self.path.name}: its last messages and state "
                    f"may be lost); seq goes on at {mark.limit}"
                )
                log.error("outbox %s: %s", self.path, why)
                self.faults["seq_reset"] = why
                db_next = mark.limit
        self._set("next_seq", db_next)
        self._reserve(db_next, db_next)

    def _max_seq(self, table: str) -> int:
        row = self._db.execute(f"SELECT MAX(seq) FROM {table}").fetchone()
        return int(row[0] or 0)

    def _reserve(self, next_seq: int, upto: int) -> None:
        """Before handing out seqs below ``upto``: a new mark if they pass the reservation."""
        if self._seq_file is None or upto <= self._seq_limit:
            return
        limit = upto + self._seq_reserve
        self._seq_file.write(SeqMark(next_seq, limit, self.clock.now()))
        self._seq_limit = limit

    def reserve_ahead(self) -> None:
        """Renew the ``seq`` reservation early, when less than half of it is left.

        For a caller with a quiet moment (the publisher, once it handed over what it
        committed): the two fsyncs of the ``seq`` file then fall outside a commit,
        instead of inside every ``seq_reserve``-th one (``docs/benchmarks.md``, p99).
        """
        with self._lock:
            if self._seq_file is None:
                return
            nxt = int(self._get("next_seq", 1))
            self._reserve(nxt, nxt + self._seq_reserve // 2)

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` on any error. Caller holds the lock.

        SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR,
        ``RAISE(ROLLBACK)``); then there is nothing to roll back and the original
        error is what the caller sees. The in-memory count is re-read after a rollback.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as e:  # the original error matters more
                log.error("outbox %s: rollback failed: %s", self.path, e)
        try:
            self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error as e:
            log.error("outbox %s: cannot recount after a rollback: %s", self.path, e)

    # -- persistent state -------------------------------------------------------------

    def _get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def get_state(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._get(f"state.{key}", default)

    def set_state(self, key: str, value: Any) -> None:
        """Store a JSON-able value durably (committed on return)."""
        with self._lock, self._transaction():
            self._set(f"state.{key}", value)

    # -- writing ----------------------------------------------------------------------

    def put(
        self,
        topic: str,
        body: Mapping[str, Any],
        *,
        kind: str,
        retain: bool = False,
        qos: int = 1,
        correlation: bytes | None = None,
    ) -> Message:
        """Commit one message; returns it with its ``seq`` and ``msg_id``."""
        return self.put_many([Outgoing(topic, body, kind, retain, qos, correlation)])[0]

    def put_many(
        self,
        items: Iterable[Outgoing],
        state: Mapping[str, Any] | None = None,
        *,
        delete: Iterable[int] = (),
    ) -> list[Message]:
        """Commit several messages in one transaction (one fsync), in order.

        ``state`` (``{key: value}``, as :meth:`set_state`) is written in the same
        transaction: e.g. the alert book's snapshot with the events it produced, so
        that both or neither are stored. ``delete``: acknowledged seqs removed in the
        same transaction (as :meth:`delete`): the publisher's group commit, one fsync
        per drain cycle for what arrived and what was acknowledged.
        """
        items = list(items)
        seqs = list(delete)
        for it in items:
            if it.kind not in KINDS:
                raise ValueError(f"unknown message kind {it.kind!r}; known: {KINDS}")
            if problem := topic_name_problem(it.topic):
                raise ValueError(f"cannot publish to topic {it.topic[:100]!r}: it {problem}")
        out = []
        with self._lock, self._transaction():
            self._count -= self._delete(seqs)
            seq = self._get("next_seq", 1)
            now = iso_time(self.clock.now())
            for it in items:
                msg_id = str(uuid.uuid4())
                body = {"msg_id": msg_id, "seq": seq, "time": now, **it.body}
                payload = json.dumps(body, separators=(",", ":")).encode()
                msg = Message(
                    seq, msg_id, it.kind, it.topic, payload, it.qos, it.retain, it.correlation
                )
                self._db.execute(
                    "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, msg_id, it.kind, it.topic, payload, it.qos, int(it.retain),
                     it.correlation),
                )  # fmt: skip
                out.append(msg)
                seq += 1
            for key, value in (state or {}).items():
                self._set(f"state.{key}", value)
            if items:
                self._reserve(out[0].seq, seq)
                self._set("next_seq", seq)
                self._count += len(items)
                self._enforce_bound()
        return out

    def allocate_seq(self) -> int:
        """Take the next ``seq`` for a message that is not stored (the online status)."""
        with self._lock, self._transaction():
            seq: int = self._get("next_seq", 1)
            self._reserve(seq, seq + 1)
            self._set("next_seq", seq + 1)
        return seq

    @property
    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first message)."""
        with self._lock:
            return self._get("next_seq", 1) - 1

    def _enforce_bound(self) -> None:
        excess = self._count - self.max_messages
        if excess <= 0:
            return
        drops = self._get("drops", {})
        for kind in DROPPABLE:
            if excess <= 0:
                break
            rows = self._db.execute(
                "SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?", (kind, excess)
            ).fetchall()
            if rows:
                self._db.execute(
                    "DELETE FROM outbox WHERE kind = ? AND seq <= ?", (kind, rows[-1][0])
                )
                drops[kind] = drops.get(kind, 0) + len(rows)
                self._count -= len(rows)
                excess -= len(rows)
        self._set("drops", drops)
        if excess > 0:
            log.warning("outbox over its bound by %d: nothing droppable left", excess)

    # -- reading and acknowledging ----------------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Message]:
        """Stored messages with ``seq > after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, msg_id, kind, topic, payload, qos, retain, correlation "
                "FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Message(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], bool(r[6]), r[7]) for r in rows]

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove acknowledged messages (one transaction). Returns how many were there."""
        seqs = list(seqs)
        if not seqs:
            return 0
        with self._lock:
            with self._transaction():
                n = self._delete(seqs)
            self._count -= n
            return n

    def _delete(self, seqs: list[int]) -> int:
        n = 0
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            cur = self._db.execute(
                f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk
            )
            n += cur.rowcount
        return n

    def dead_letter(self, seq: int, reason: str) -> bool:
        """Move the row ``seq`` to the ``dead_letter`` table (one transaction).

        For a row that can never be published (refused by the MQTT client or the
        broker): it must not hold up the rows behind it. Returns whether it was there.
        """
        with self._lock:
            with self._transaction():
                moved = self._db.execute(
                    "INSERT OR REPLACE INTO dead_letter SELECT seq, msg_id, kind, topic, "
                    "payload, qos, retain, correlation, ?, ? FROM outbox WHERE seq = ?",
                    (reason[:500], iso_time(self.clock.now()), seq),
                ).rowcount
                if moved:
                    self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                    self._set("dead_letters", self._get("dead_letters", 0) + 1)
                    self._db.execute(
                        "DELETE FROM dead_letter WHERE seq <= "
                        "(SELECT seq FROM dead_letter ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                        (DEAD_LETTER_KEEP,),
                    )
            self._count -= moved
            return bool(moved)

    def dead_letters(self) -> int:
        """How many rows were ever moved to the dead-letter table (persistent)."""
        with self._lock:
            return int(self._get("dead_letters", 0))

    def depth(self) -> int:
        """Messages waiting for a PUBACK."""
        with self._lock:
            return self._count

    def drops(self) -> dict[str, int]:
        """Messages dropped because the outbox was full, by kind (persistent)."""
        with self._lock:
            return dict(self._get("drops", {}))
