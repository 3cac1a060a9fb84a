"""The MQTT publisher: the outbox to the broker, commands from the broker to the application.

Topics (``capleak/v1/{site}/{unit}/{bed}/`` + name; no patient identifiers)::

    status          QoS 1, retained   online (boot id, version, devices, outbox depth,
                                      drops, health) after each connect; the Will
                                      publishes offline, retained, when the
                                      connection is lost
    vitals          QoS 1             batches of readings (MDC, UCUM, LOINC)
    trends          QoS 1             periodic trend summaries
    alerts          QoS 1             alert events (edge.messaging.alerts.AlertEvent)
    alerts/active   QoS 1, retained   the current active and latched alerts
    dose-check      QoS 1, retained   the latest pre-dose check
    cmd/<name>      subscribed        ack, silence, dose, baseline (edge.messaging.commands)
    cmd/<name>/reply                  replies (or the MQTT 5 response topic)

Every payload carries ``msg_id`` (unique), ``seq`` (monotonic per agent, persisted)
and ``time``; its JSON Schema is ``edge/messaging/schemas/<topic>.json``. The online status
takes a fresh ``seq``; the Will reuses the last ``seq`` handed out when it was set
(it is not a new message in the sequence, so it opens no gap) and is marked
``"will": true``.

Delivery (``shared/docs/messaging-and-ops.md``, "paho-mqtt 2.x facts"): everything
but the status goes through the :class:`~edge.messaging.outbox.Outbox` (committed first).
The publisher's own thread (the *pump*) hands at most ``window`` stored messages to
paho at a time, in ``seq`` order, and deletes a record only when its PUBACK arrives.
It hands over new messages only between the SUBACK of a connection and its loss:
paho sends a message published between CONNECT and CONNACK at once, ahead of the
ones it resends after CONNACK, which would break the order; the SUBACK of the
command subscription (sent from ``on_connect``) arrives after paho's resends.
paho keeps the unacknowledged ones in memory and resends them, in order, after a
reconnect (reconnect_delay_set: doubling backoff); after a process restart the pump
starts again from the oldest stored record. paho issues #361/#482 (the PUBACK can
arrive before ``publish()`` returns the mid): ``on_publish`` only appends
``(mid, reason)`` to a list under ``_ack_lock`` and wakes the pump; the pump, the
only thread that publishes, resolves mids to records after ``publish()`` returned.
(Taking one lock around ``publish()`` and in ``on_publish`` would deadlock in paho
2.x, which calls ``on_publish`` while holding its own ``_out_message_mutex`` that
``publish()`` also takes.) A PUBACK with a failure reason code (MQTT 5, e.g. not
authorised) is logged, counted as ``rejected`` in ``status`` and not retried.

Group commit (issue #16): one ``synchronous=FULL`` commit (one fsync) per message
capped an agent at ~900 messages/s. :meth:`Publisher.add_readings` therefore *stages*
unbatched vitals in memory; each pump cycle (settle PUBACKs, hand over committed rows,
commit, hand over again) commits all that was staged, a due vitals batch and the rows
acknowledged since the last commit as ONE transaction; acknowledged rows alone wait
up to :data:`ACK_DELETE_DELAY_S` for a commit to join. :meth:`Publisher.enqueue`
(alerts, replies) commits at once, taking the staged vitals along, so ``seq`` follows
the calls. Stored before published holds: paho gets only rows read back from the
outbox after their commit, so a kill loses only readings never stored (as an open
batch could) and never reuses a published ``seq``. A failed group commit is a storage
error (``status.errors.storage``; its vitals counted in ``status.dropped``).
``docs/benchmarks.md`` ("Messaging") has the figures.

Commands, the API for the runtime::

    def on_command(cmd: edge.messaging.commands.Command) -> Mapping[str, Any] | None: ...

    publisher = Publisher(config, outbox, on_command=on_command)

``cmd.name`` is ``ack`` / ``silence`` / ``dose`` / ``baseline`` and ``cmd.args`` the
validated body without its common fields (``msg_id``, ``by``, ``bed``, ``time``), e.g.
``{"alert": "hypotension"}``, ``{"duration_s": 120}``, ``{"given_at": "..."}``,
``{"signal": "weight", "value": 71.3}``. The handler runs on the command thread of
:class:`edge.messaging.intake.CommandIntake` (never on paho's thread or the pump, so a
slow handler or a flood of commands cannot hold back alerts; it may call the
publisher's ``publish_*`` methods). Its return value is
the reply's ``result``; raising :class:`edge.messaging.commands.CommandError` (or
``edge.messaging.alerts.UnknownAlert`` / ``ValueError``) sends an error reply; any other
exception is logged and answered with ``internal``. Either way the agent keeps
running. :func:`edge.messaging.alerts.apply_command` handles ``ack`` and ``silence`` against an
:class:`~edge.messaging.alerts.AlertBook`. With MQTT 5 the command subscription asks
for "retain as published", so a retained command is recognised (and refused) also
when it is delivered live; ``publisher.commands.counters()`` counts refusals.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import __version__
from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.messaging.alerts import AlertEvent
from edge.messaging.commands import Command
from edge.messaging.health import Health, Throttle
from edge.messaging.intake import CommandIntake, CommandLedger, Inbound
from edge.messaging.mqtt import new_client, topic_name_problem
from edge.messaging.outbox import STORAGE_ERRORS, Outbox, Outgoing
from edge.vocabulary import Reading, iso_time

log = logging.getLogger(__name__)

#: How long acknowledged rows may wait to be deleted in the transaction of the next
#: group commit rather than in one (one fsync) of their own. A kill within it only
#: means those rows are published again after the restart (at least once; subscribers
#: drop copies by ``msg_id``).
ACK_DELETE_DELAY_S = 0.25


CommandHandler = Callable[[Command], Mapping[str, Any] | None]


class SupportsToDict(Protocol):
    """A payload object such as the core's ``DoseCheck``; messaging never imports the core."""

    def to_dict(self) -> dict[str, Any]: ...


Payload = Mapping[str, Any] | SupportsToDict


class Publisher:
    """One paho client and one pump thread for one bed."""

    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        *,
        clock: Clock | None = None,
        on_command: CommandHandler | None = None,
        devices: Sequence[Mapping[str, Any]] = (),
        client_id: str | None = None,
        window: int = 20,
        reconnect_delay: tuple[float, float] = (0.25, 10.0),
        version: str = __version__,
        health: Health | None = None,
    ) -> None:
        self.config = config
        self.health = health or Health()
        self.outbox = outbox
        self.clock = clock or SystemClock()
        self.on_command = on_command
        self.root = config.topic_root
        bed = config.bed
        self.client_id = (
            client_id or config.broker.client_id or (f"capleak-{bed.site}-{bed.unit}-{bed.bed}")
        )
        self.window = window
        self.reconnect_delay = reconnect_delay
        self.version = version
        self.boot_id = str(uuid.uuid4())
        self.batch_s = config.publish.vitals_batch_s
        self._devices = [dict(d) for d in devices]
        self._cond = threading.Condition()
        self._ack_lock = threading.Lock()
        self._acks: list[tuple[int, bool]] = []
        self._inflight: dict[int, int] = {}  # mid -> seq; pump thread only
        self._cursor = 0  # highest seq handed to paho; pump thread only
        self._batch: list[dict[str, Any]] = []  # the open vitals batch (batch_s > 0)
        self._batch_started = 0.0
        # vitals messages for the next group commit, each with its number of readings
        self._staged: list[tuple[Outgoing, int]] = []
        self._committing = 0  # staged messages taken by a commit that has not ended
        self._acked: list[int] = []  # acknowledged seqs, deleted by the next group commit
        self._acked_since = 0.0  # time.monotonic() of the oldest of them
        self._idle_waiters = 0  # wait_idle callers: delete acknowledged rows at once
        self._batch_lock = threading.Lock()  # the fields above; held briefly
        self._commit_lock = threading.Lock()  # one group commit at a time (seq = stage order)
        self._stopping = False
        self._work = False
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self.commands = CommandIntake(
            self.root,
            config.commands,
            handler=on_command,
            reply=self._store_reply,
            ledger=CommandLedger.beside(outbox.path, config.commands.replay_window_s),
            clock=self.clock,
        )
        self.rejected = 0
        self.connects = 0
        self._bad_reply_log = Throttle()
        self._storage_log = Throttle()
        self._status_seq = 0
        self._status_lock = threading.Lock()
        self._dead_letter_log = Throttle()

    def topic(self, name: str) -> str:
        return f"{self.root}/{name}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> Publisher:
        """Connect (in the background, retrying) and start the pump."""
        client, addr = new_client(self.config.broker, self.client_id, clean_start=True)
        self._client = client
        client.max_inflight_messages_set(self.window)
        # paho annotates the delays as int but does float arithmetic with them
        client.reconnect_delay_set(*self.reconnect_delay)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._boot_count = self.outbox.get_state("boot_count", 0) + 1
        self.outbox.set_state("boot_count", self._boot_count)
        self._set_will()
        kwargs: dict[str, Any] = {}
        if client.protocol == mqtt.MQTTv5:
            kwargs["clean_start"] = True
        client.connect_async(addr.host, addr.port, self.config.broker.keepalive_s, **kwargs)
        self.commands.start()
        client.loop_start()
        self._thread = threading.Thread(target=self._pump, name="capleak-publisher", daemon=True)
        self._thread.start()
        log.info("publisher for %s connecting to %s", self.root, addr)
        return self

    def stop(self, drain_timeout: float = 0.0) -> bool:
        """Optionally wait for the outbox to drain, say ``offline``, disconnect.

        Returns whether everything stored was acknowledged. Staged vitals and the
        open batch are stored first (:meth:`flush`): they go out after the next start.
        """
        self.flush()
        drained = self.wait_idle(drain_timeout) if drain_timeout > 0 else self._idle()
        client = self._client
        if client is not None and self.connected:
            info = client.publish(
                self.topic("status"),
                self._status_payload("offline", reason="agent stopped"),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):  # the connection went away meanwhile
                log.info("could not publish the offline status; the Will will say it")
        self.commands.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()  # the rows acknowledged since the pump's last commit
        if client is not None:
            client.disconnect()
            client.loop_stop()
        return drained

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed to this bed's commands."""
        return self._subscribed.wait(timeout) and self._connected.is_set()

    def _idle(self) -> bool:
        with self._batch_lock:
            batching = bool(self._batch or self._staged or self._committing)
        return not batching and self.outbox.depth() == 0

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds until every stored message was acknowledged."""
        with self._batch_lock:
            self._idle_waiters += 1
        try:
            self.flush()
            self._wake()
            deadline = time.monotonic() + timeout  # real seconds, whatever the clock
            while not self._idle():  # lock order: _batch_lock is never taken under _cond
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with self._cond:
                    self._cond.wait(min(left, 0.05))
            return True
        finally:
            with self._batch_lock:
                self._idle_waiters -= 1

    # -- what the application publishes ----------------------------------------------

    def enqueue(self, items: Iterable[Outgoing], state: Mapping[str, Any] | None = None) -> None:
        """Low level: commit messages (full topics, see :meth:`topic`) in one transaction.

        Staged vitals (:meth:`add_readings`) go into the same transaction, ahead of
        ``items``, so ``seq`` follows the order of the calls. ``state`` is committed
        with them (:meth:`Outbox.put_many`). A storage error is counted in
        ``status.errors.storage`` and raised: the caller decides what to keep (the
        dispatcher holds alerts); staged vitals are dropped and counted, as by :meth:`flush`.
        """
        self._group_commit(list(items), state)

    def add_reading(self, reading: Reading) -> None:
        """Queue a reading for the next ``vitals`` batch (``publish.vitals_batch_s``)."""
        self.add_readings([reading])

    def add_readings(self, readings: Iterable[Reading | Mapping[str, Any]]) -> None:
        """Readings (or their ``vitals`` dicts, e.g. with the core's verdict) for the batch.

        With ``vitals_batch_s`` 0 each call is one ``vitals`` message, staged for the
        pump's group commit (module docs); :meth:`flush` stores it at once.
        """
        dicts = [r.to_dict() if isinstance(r, Reading) else dict(r) for r in readings]
        if not dicts:
            return
        with self._batch_lock:
            if self.batch_s <= 0:
                self._staged.append((self._vitals(dicts), len(dicts)))
            else:
                if not self._batch:
                    self._batch_started = self.clock.monotonic()
                self._batch.extend(dicts)
        self._wake()

    def flush(self) -> None:
        """Store the open vitals batch and the staged vitals now (one transaction).

        On a storage error the vitals are dropped and counted (``status.dropped``).
        """
        with self._batch_lock:
            self._stage_batch()
        with contextlib.suppress(*STORAGE_ERRORS):  # counted and logged by _group_commit
            self._group_commit([], None)

    def _vitals(self, readings: list[dict[str, Any]]) -> Outgoing:
        return Outgoing(self.topic("vitals"), {"readings": readings}, "vitals")

    def _stage_batch(self) -> None:
        """The open batch becomes a staged message. Caller holds ``_batch_lock``."""
        if self._batch:
            self._staged.append((self._vitals(self._batch), len(self._batch)))
            self._batch = []

    def _group_commit(self, items: list[Outgoing], state: Mapping[str, Any] | None) -> None:
        """Commit everything staged, then ``items`` and ``state``, in one transaction.

        The rows acknowledged since the last commit are deleted in the same
        transaction. Under ``_commit_lock``: whoever commits (the pump, :meth:`flush`,
        an :meth:`enqueue` caller) takes all that is staged, so ``seq`` follows the
        order in which messages were staged, and no row is ever published before its
        commit returned (the pump reads only committed rows from the outbox). Raises
        what :meth:`Outbox.put_many` raises; a storage error with messages in the
        transaction is counted and its vitals dropped and counted first.
        """
        with self._commit_lock:
            with self._batch_lock:
                staged, self._staged = self._staged, []
                acked, self._acked = self._acked, []
                self._committing = len(staged)
            writes = bool(staged or items or state)
            if not writes and not acked:
                return
            failure: BaseException | None = None
            try:
                self.outbox.put_many([m for m, _ in staged] + items, state, delete=acked)
            except BaseException as e:
                with self._batch_lock:  # nothing was deleted: next time
                    self._acked[:0] = acked
                    if isinstance(e, ValueError) and items:
                        # refused before anything was written: the staged vitals wait
                        # for the next commit (unless they themselves were refused)
                        self._staged[:0] = staged
                        staged = []
                failure = e
            finally:
                with self._batch_lock:
                    self._committing = 0
        # outside the lock: on_fault (health) may store an agent_fault alert at once
        if failure is not None:
            if isinstance(failure, STORAGE_ERRORS) and writes:
                self.health.failed("storage", f"{type(failure).__name__}: {failure}")
            self._drop_vitals(staged, f"not stored: {failure}")
            raise failure
        if writes:
            self.health.succeeded("storage")
            self._wake()
        else:
            with self._cond:  # for wait_idle
                self._cond.notify_all()

    def _drop_vitals(self, staged: list[tuple[Outgoing, int]], why: str) -> None:
        n = sum(k for _, k in staged)
        if n:
            # Vitals are not held: the next ones replace them. Counted, not hidden.
            self.health.drop("vitals", n)
            self._storage_log.log(log, logging.ERROR, "%d readings %s", n, why)

    def publish_alerts(
        self,
        events: Sequence[AlertEvent],
        active: Sequence[Mapping[str, Any]] | None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        """Alert events on ``alerts``, then (if given) the retained ``alerts/active``.

        Pass ``active=book.active()`` whenever ``events`` is not empty (and once after
        a restart, with no events, so the full list is published again). ``state`` (the
        book's snapshot) is committed in the same transaction. Raises on a storage error.
        """
        items = [Outgoing(self.topic("alerts"), {"alert": e.to_dict()}, "alert") for e in events]
        if active is not None:
            items.append(
                Outgoing(
                    self.topic("alerts/active"),
                    {"alerts": [dict(a) for a in active]},
                    "alert",
                    retain=True,
                )
            )
        if items or state:
            self.enqueue(items, state)

    def publish_dose_check(self, dose_check: Payload) -> None:
        """The latest pre-dose check, retained (a dict or an object with ``to_dict()``)."""
        body = {"dose_check": _as_dict(dose_check)}
        self.enqueue([Outgoing(self.topic("dose-check"), body, "alert", retain=True)])

    def publish_trends(self, summary: Payload) -> None:
        self.enqueue([Outgoing(self.topic("trends"), {"trends": _as_dict(summary)}, "trends")])

    def set_devices(self, devices: Sequence[Mapping[str, Any]]) -> None:
        """Device list for ``status`` (``[{"id": ..., "state": "online"}, ...]``); republished."""
        self._devices = [dict(d) for d in devices]
        self.publish_status()

    def publish_status(self) -> None:
        """Republish the retained ``online`` status (e.g. after device changes)."""
        self._publish_online()

    # -- status ------------------------------------------------------------------------

    def status(self, state: str = "online") -> dict[str, Any]:
        return {
            "state": state,
            "boot_id": self.boot_id,
            "boot_count": getattr(self, "_boot_count", 0),
            "version": self.version,
            "devices": list(self._devices),
            "outbox_depth": self.outbox.depth(),
            "drops": self.outbox.drops(),
            "rejected": self.rejected,
            "dead_letters": self.outbox.dead_letters(),
            **self.health.snapshot(),
            "commands": self.commands.counters(),
        }

    def _status_payload(self, state: str, **extra: Any) -> bytes:
        try:
            self._status_seq = self.outbox.allocate_seq()
        except STORAGE_ERRORS as e:  # say how we are all the same; the seq opens no gap
            self.health.failed("storage", f"{type(e).__name__}: {e}")
        body = {
            "msg_id": str(uuid.uuid4()),
            "seq": self._status_seq,
            "time": iso_time(self.clock.now()),
            **self.status(state),
            **extra,
        }
        return _dumps(body)

    def _set_will(self) -> None:
        assert self._client is not None
        body = {
            "msg_id": str(uuid.uuid4()),
            "seq": self.outbox.last_seq,
            "time": iso_time(self.clock.now()),
            "state": "offline",
            "boot_id": self.boot_id,
            "version": self.version,
            "reason": "connection lost",
            "will": True,
        }
        self._client.will_set(self.topic("status"), _dumps(body), qos=1, retain=True)

    # -- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        self.connects += 1
        self._connected.set()
        log.info("connected to the broker (connect #%d)", self.connects)
        # the online status follows the SUBACK (after paho's resends of the old session)
        if client.protocol == mqtt.MQTTv5:
            # Retain as published: a retained command delivered live keeps its retain
            # flag, so it is refused like one delivered on subscription (MQTT 5 3.8.3.1).
            options = SubscribeOptions(qos=1, retainAsPublished=True)
            client.subscribe(self.topic("cmd/+"), options=options)
        else:  # 3.1.1 clears the flag on live delivery: docs/security.md says what then
            client.subscribe(self.topic("cmd/+"), qos=1)
        self._wake()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error(
                "broker refused the subscription to %s: %s", self.topic("cmd/+"), reason_codes
            )
        self._subscribed.set()
        self._publish_online()
        self._wake()

    def _publish_online(self) -> None:
        """The fresh ``online`` status, after paho's resends of this connection.

        Status cannot go backwards: paho resends the unacknowledged messages of the
        last connection (older statuses among them) after ``on_connect`` returns, and
        the broker takes one connection's packets in order; so the fresh status goes
        out from the SUBACK on, never between CONNACK and SUBACK.
        """
        client = self._client
        if client is None or not self._subscribed.is_set():
            return
        try:
            with self._status_lock:  # seq order = publish order, whichever thread
                client.publish(self.topic("status"), self._status_payload("online"), 1, True)
        except Exception:  # an exception here would end paho's network thread
            self.health.failed("publisher", "online status not published")
            log.exception("could not publish the online status")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stopping:
            log.warning("disconnected from the broker (%s); will reconnect", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._ack_lock:
            self._acks.append((mid, bool(reason_code.is_failure)))
        self._wake()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        response_topic = correlation = None
        props = getattr(msg, "properties", None)
        if props is not None:
            response_topic = getattr(props, "ResponseTopic", None)
            correlation = getattr(props, "CorrelationData", None)
        if response_topic is not None and (problem := topic_name_problem(response_topic)):
            # Its reply could never be published and would block the outbox: refuse the
            # command before anything is stored or applied (the sender learns nothing:
            # there is nowhere to answer).
            self.health.drop("commands_bad_response_topic")
            self._bad_reply_log.log(
                log,
                logging.WARNING,
                "command on %s refused: its MQTT 5 response topic %s",
                msg.topic,
                problem,
            )
            return
        # Only queue it (bounded, never blocking): paho's thread also carries the alerts.
        self.commands.offer(
            Inbound(msg.topic, bytes(msg.payload), bool(msg.retain), response_topic, correlation)
        )

    # -- the pump (publisher thread) -------------------------------------------------

    def _wake(self) -> None:
        with self._cond:
            self._work = True
            self._cond.notify_all()

    def _pump(self) -> None:
        while True:
            wait = self._wait_time()
            with self._cond:
                if self._stopping:
                    return
                if not self._work:
                    self._cond.wait(wait)
                self._work = False
            try:
                self._settle_acks()
                self._fill_window()  # rows already committed go out during the commit
                if self._commit_staged():
                    self._fill_window()
                    self.outbox.reserve_ahead()  # the seq file's fsyncs, off a message's path
            except Exception as e:
                self.health.failed("publisher", f"{type(e).__name__}: {e}")
                log.exception("publisher pump error (continuing)")
                time.sleep(0.1)
            else:
                self.health.succeeded("publisher")

    def _wait_time(self) -> float:
        wait = 0.5
        with self._batch_lock:
            if self._staged or (self._acked and self._idle_waiters):
                return 0.0
            if self._acked:
                wait = self._acked_since + ACK_DELETE_DELAY_S - time.monotonic()
            if self._batch and self.batch_s > 0:
                wait = min(wait, self._batch_started + self.batch_s - self.clock.monotonic())
        return max(0.0, min(wait, 0.5))

    def _commit_staged(self) -> bool:
        """The drain cycle's group commit (staged vitals, a due batch, acknowledged rows);
        True when it stored messages. Acknowledged rows alone wait up to
        :data:`ACK_DELETE_DELAY_S` for a commit to join (not while wait_idle waits)."""
        with self._batch_lock:
            if self._batch and self.clock.monotonic() - self._batch_started >= self.batch_s:
                self._stage_batch()
            writes = bool(self._staged)
            deletes = bool(self._acked) and (
                self._idle_waiters > 0 or time.monotonic() - self._acked_since >= ACK_DELETE_DELAY_S
            )
        if writes or deletes:
            try:
                self._group_commit([], None)
            except STORAGE_ERRORS:
                if not writes:
                    raise  # a failed delete: the pump counts it; retried next cycle
                return False  # counted and logged by _group_commit; the pump goes on
        return writes

    def _settle_acks(self) -> None:
        """Resolve PUBACKs to seqs: failures are dead-lettered, the rest deleted by the next
        group commit."""
        with self._ack_lock:
            acks, self._acks = self._acks, []
        done = []
        for mid, failed in acks:
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # the status message, published outside the outbox
            if failed:
                self.rejected += 1
                self._dead_letter(seq, "refused by the broker (failure PUBACK)")
            else:
                done.append(seq)
        if done:
            with self._batch_lock:
                if not self._acked:
                    self._acked_since = time.monotonic()
                self._acked.extend(done)

    def _dead_letter(self, seq: int, reason: str) -> None:
        """Move a row that can never be published aside, so the queue goes on."""
        self.outbox.dead_letter(seq, reason)
        self._dead_letter_log.log(
            log, logging.ERROR, "outbox row seq %d moved to the dead-letter table: %s", seq, reason
        )

    def _fill_window(self) -> None:
        client = self._client
        if client is None:
            return
        room = self.window - len(self._inflight)
        if room <= 0 or not self._subscribed.is_set():
            return
        for m in self.outbox.pending(self._cursor, room):
            if not self._subscribed.is_set():
                break
            props = None
            if m.correlation is not None and client.protocol == mqtt.MQTTv5:
                props = Properties(PacketTypes.PUBLISH)
                props.CorrelationData = m.correlation
            try:
                info = client.publish(m.topic, m.payload, m.qos, m.retain, props)
            except ValueError as e:  # invalid topic, payload too large: never publishable
                self._dead_letter(m.seq, f"refused by the MQTT client: {e}")
                self._cursor = m.seq
                self._wake()
                continue
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                break  # not taken: hand it over again next time
            self._inflight[info.mid] = m.seq
            self._cursor = m.seq

    # -- commands (the intake's thread) ------------------------------------------------

    def _store_reply(self, topic: str, body: dict[str, Any], correlation: bytes | None) -> None:
        self.enqueue([Outgoing(topic, body, "reply", correlation=correlation)])


def _as_dict(obj: Payload) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return dict(obj.to_dict())


def _dumps(body: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(body, separators=(",", ":")).encode()
