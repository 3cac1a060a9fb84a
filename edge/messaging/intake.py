"""Command intake: commands leave the MQTT thread at once and are handled on their own.

Issue 13 (item 4): a flood of commands must never hold back an alert. So:

* paho's network thread only :meth:`CommandIntake.offer` s a received command to a
  **bounded** queue (``commands.queue_size``); when it is full the command is
  dropped, counted (``busy_dropped``) and gets no reply: answering a flood would
  be a flood.
* One worker thread (``capleak-commands``) parses and checks each command
  (:func:`edge.messaging.commands.parse_command` with the bed's clock), answers a
  ``msg_id`` it has seen within ``commands.replay_window_s`` with the stored reply
  (:class:`CommandLedger`, SQLite, survives a restart) and otherwise runs the
  handler. A slow handler (the runtime waits for its processing loop) blocks this
  thread only, never the publisher's pump.
* Replies go through the outbox like every message, at most
  ``commands.replies_per_s`` (a token bucket, burst of one second); the rest are
  dropped and counted (``replies_dropped``), so replies cannot pile up in front of
  alerts in the outbox.
* Refusals are logged at most once per :data:`LOG_INTERVAL_S` per kind, with the
  number left out since the last line.

:meth:`CommandIntake.counters` gives the counters for ``status``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.clock import Clock
from edge.config import CommandsConfig
from edge.messaging.alerts import UnknownAlert
from edge.messaging.commands import Command, CommandError, bounded, parse_command

log = logging.getLogger(__name__)

#: At most one log line per kind of refusal in this many seconds.
LOG_INTERVAL_S = 10.0

CommandHandler = Callable[[Command], Mapping[str, Any] | None]
#: ``reply(topic, body, correlation)``: store a reply for publishing.
ReplySink = Callable[[str, dict[str, Any], bytes | None], None]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received command message, as paho delivered it."""

    topic: str
    payload: bytes
    retain: bool
    response_topic: str | None = None
    correlation: bytes | None = None


class Throttle:
    """Say something at most once per ``interval_s``; count what was left out.

    >>> t = Throttle(10.0)
    >>> t.due(0.0), t.due(1.0), t.due(2.0), t.due(10.5)
    (0, None, None, 2)
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: float | None = None
        self._skipped = 0

    def due(self, now: float) -> int | None:
        """None: stay quiet. An int: speak now; that many were left out since last time."""
        if self._last is not None and now - self._last < self.interval_s:
            self._skipped += 1
            return None
        self._last = now
        skipped, self._skipped = self._skipped, 0
        return skipped


class TokenBucket:
    """``rate`` per second on average, bursts of up to ``rate`` (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._at: float | None = None

    def take(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS command_ids (
    msg_id TEXT PRIMARY KEY,
    received REAL NOT NULL,
    reply TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS command_ids_received ON command_ids (received);
"""


class CommandLedger:
    """The ``msg_id`` of every handled command and its reply, kept ``window_s`` in SQLite.

    A QoS 1 resend or a replay of a command already handled is answered with the
    same reply and never applied twice, also after a restart. Rows older than the
    window are deleted as new ones come (an indexed range delete: amortised O(1)).
    A command applied and then lost in a crash before its row committed could be
    applied again: the row is committed right after the handler returns.
    """

    def __init__(self, path: str | Path, window_s: float) -> None:
        self.path = str(path)
        self.window_s = window_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(LEDGER_SCHEMA)

    @classmethod
    def beside(cls, outbox_path: str | Path, window_s: float) -> CommandLedger:
        """The ledger next to an outbox file (``outbox-commands.sqlite3``)."""
        p = Path(outbox_path)
        if str(outbox_path) == ":memory:":
            return cls(":memory:", window_s)
        return cls(p.with_name(f"{p.stem}-commands{p.suffix}"), window_s)

    def reply_for(self, msg_id: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reply FROM command_ids WHERE msg_id = ? AND received >= ?",
                (msg_id, now - self.window_s),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def remember(self, msg_id: str, reply: Mapping[str, Any], now: float) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM command_ids WHERE received < ?", (now - self.window_s,)
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO command_ids VALUES (?, ?, ?)",
                    (msg_id, now, json.dumps(reply, separators=(",", ":"))),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM command_ids").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CommandIntake:
    """A bounded queue and one worker thread between paho and the command handler."""

    def __init__(
        self,
        topic_root: str,
        limits: CommandsConfig,
        *,
        handler: CommandHandler | None,
        reply: ReplySink,
        ledger: CommandLedger,
        clock: Clock,
    ) -> None:
        self.topic_root = topic_root
        self.limits = limits
        self.handler = handler
        self._reply = reply
        self.ledger = ledger
        self.clock = clock
        self._queue: queue.Queue[Inbound | None] = queue.Queue(maxsize=limits.queue_size)
        self._replies = TokenBucket(limits.replies_per_s)
        self._log_busy = Throttle(LOG_INTERVAL_S)
        self._log_refused = Throttle(LOG_INTERVAL_S)
        self._log_reply = Throttle(LOG_INTERVAL_S)
        self._thread: threading.Thread | None = None
        self.received = 0
        self.handled = 0
        self.refused = 0
        self.busy_dropped = 0
        self.replies_dropped = 0
        self.errors = 0

    def counters(self) -> dict[str, int]:
        """For ``status``: ``commands_busy_dropped`` counts commands refused by a full queue."""
        return {
            "commands_received": self.received,
            "commands_handled": self.handled,
            "commands_refused": self.refused,
            "commands_busy_dropped": self.busy_dropped,
            "command_replies_dropped": self.replies_dropped,
            "command_errors": self.errors,
        }

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> CommandIntake:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="capleak-commands", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        while True:  # make room for the sentinel: what is still queued is dropped
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
        thread.join(timeout)

    # -- paho's thread -----------------------------------------------------------------

    def offer(self, msg: Inbound) -> bool:
        """Queue a received command without blocking; False (dropped, counted) when full."""
        self.received += 1
        try:
            self._queue.put_nowait(msg)
            return True
        except queue.Full:
            self.busy_dropped += 1
            skipped = self._log_busy.due(time.monotonic())
            if skipped is not None:
                log.warning(
                    "command queue full (%d): dropped a command on %s without reply "
                    "(%d dropped in all)",
                    self.limits.queue_size,
                    bounded(msg.topic, 120),
                    self.busy_dropped,
                )
            return False

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    # -- the worker --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            msg = self._queue.get()
            try:
                if msg is None:
                    return
                self.handle(msg)
            except Exception:
                self.errors += 1
                log.exception("command intake error (continuing)")
            finally:
                self._queue.task_done()

    def handle(self, msg: Inbound) -> None:
        """Check, de-duplicate, apply and answer one command (the worker's thread)."""
        name = msg.topic.rsplit("/", 1)[-1][:64]
        request_id = None
        now = self.clock.now()
        reply: dict[str, Any]
        try:
            cmd = parse_command(
                msg.topic,
                msg.payload,
                topic_root=self.topic_root,
                retained=msg.retain,
                now=now,
                limits=self.limits,
            )
            request_id = cmd.request_id
            seen = self.ledger.reply_for(request_id, now) if request_id is not None else None
            if seen is not None:
                reply = seen  # a QoS 1 resend or a replay: answer again, never redo
            else:
                reply = self._apply(cmd)
                transient = reply.get("error", {}).get("code") in ("busy", "internal")
                if request_id is not None and not transient:
                    self.ledger.remember(request_id, reply, now)
        except CommandError as e:
            request_id = e.request_id
            self._refused(msg.topic, e.code, e.message)
            reply = {"ok": False, "error": {"code": e.code, "message": e.message}}
        body = {"command": name, **({"request_id": request_id} if request_id else {}), **reply}
        if not self._replies.take(time.monotonic()):
            self.replies_dropped += 1
            skipped = self._log_reply.due(time.monotonic())
            if skipped is not None:
                log.warning(
                    "more than %g command replies a second: dropping replies (%d dropped in all)",
                    self.limits.replies_per_s,
                    self.replies_dropped,
                )
            return
        self._reply(msg.response_topic or f"{msg.topic}/reply", body, msg.correlation)

    def _apply(self, cmd: Command) -> dict[str, Any]:
        self.handled += 1
        try:
            if self.handler is None:
                raise CommandError("not_supported", "this agent takes no commands")
            result = self.handler(cmd)
            return {"ok": True, "result": dict(result or {})}
        except CommandError as e:
            code, message = e.code, e.message
        except UnknownAlert as e:
            code, message = "unknown_alert", bounded(str(e))
        except ValueError as e:
            code, message = "refused", bounded(str(e))
        except Exception as e:
            self.errors += 1
            log.exception("command handler failed on %s", cmd.topic)
            code, message = "internal", type(e).__name__
        self._refused(cmd.topic, code, message)
        return {"ok": False, "error": {"code": code, "message": message}}

    def _refused(self, topic: str, code: str, message: str) -> None:
        self.refused += 1
        skipped = self._log_refused.due(time.monotonic())
        if skipped is not None:
            more = f" (and {skipped} more refused since the last such line)" if skipped else ""
            log.warning("refused command on %s: %s: %s%s", bounded(topic, 120), code, message, more)
