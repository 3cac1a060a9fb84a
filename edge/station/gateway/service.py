"""The running gateway: an MQTT subscriber, the store, one sender per receiver, a ticker.

Threads: paho's network loop calls :meth:`Gateway._on_message`, which commits what the
message produces to the store and only then acknowledges it to the broker (paho's
``manual_ack``: the PUBACK goes out from :meth:`Gateway._on_message`, after the commit);
one :class:`~.delivery.Sender` per receiver; the caller's thread runs :meth:`Gateway.run`
(the ``continue`` ticker, and the intake's recovery).

**A store that cannot be written** (full disk, I/O error: any ``sqlite3.Error`` or
``OSError`` from the commit) loses nothing: the message is not acknowledged, the error is
logged, counted (``errors.store``) and shown in the status (:meth:`Gateway.summary`,
``intake``; ``SIGUSR1`` logs it while running). The intake then stops taking messages
(later ones are not acknowledged either, so the order of each bed is kept) and the ticker
drops the MQTT connection and reconnects to the persistent session after a delay doubling
from ``retry_min_s`` to ``retry_max_s``: the broker sends every unacknowledged message
again, in order (MQTT 3.1.1 section 4.4, MQTT 5.0 section 4.4: redelivery on session
resumption only, hence the reconnect). A message stored before the crash or the failure
and sent again is recognised by its ``msg_id`` and only acknowledged.

The MQTT session is persistent (a fixed client id, MQTT 5 session expiry
``SESSION_EXPIRY_S`` / 3.1.1 ``clean_session=False``, QoS 1 subscriptions): while the
gateway is down the broker keeps its messages, up to its own limit
(mosquitto's ``max_queued_messages``, ``messaging-and-ops.md``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import BrokerConfig
from edge.messaging.mqtt import new_client
from edge.station.gateway.delivery import (
    Backoff,
    FhirDirectory,
    FhirServer,
    Hl7Receiver,
    Receiver,
    Sender,
)
from edge.station.gateway.forwarder import Forwarder, Outputs
from edge.station.gateway.hl7v2 import Header
from edge.station.gateway.mllp import MllpLink
from edge.station.gateway.settings import GatewaySettings
from edge.station.gateway.store import Store

log = logging.getLogger(__name__)

#: How long the broker keeps the gateway's session (and its queued messages) while it is
#: away: a day, so a gateway host down over a night loses nothing the broker still has.
SESSION_EXPIRY_S = 86_400
#: The ticker's period: the resolution of the ``continue`` re-sends.
TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class Targets:
    """Where the gateway delivers: the MLLP receiver, and optionally FHIR."""

    hl7_host: str
    hl7_port: int
    fhir_dir: str | None = None
    fhir_url: str | None = None


class Intake:
    """The MQTT intake's state: taking messages, or blocked by a store failure until the
    next reconnection (at ``retry_at``, a delay doubling as the senders' backoff)."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self._lock = threading.Lock()
        self.blocked = False
        self.failures = 0
        self.reconnects = 0
        self.last_error = ""
        self.since: float | None = None
        self.retry_at = 0.0
        self._delay = 0.0

    def fail(self, error: str, now: float) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            if not self.blocked:
                self.blocked = True
                self.since = self.since or now
                self._delay = self.backoff.next(self._delay)
                self.retry_at = time.monotonic() + self._delay

    def due(self) -> bool:
        with self._lock:
            return self.blocked and time.monotonic() >= self.retry_at

    def resume(self) -> None:
        """Take messages again (the reconnection is under way)."""
        with self._lock:
            self.blocked = False
            self.reconnects += 1

    def stored(self) -> None:
        """A message was stored: the store works, the failure is over."""
        if self.since is None:
            return
        with self._lock:
            if not self.blocked:
                log.warning("the gateway store takes messages again")
                self.since = None
                self._delay = 0.0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": "blocked" if self.blocked else "failing" if self.since else "ok",
                "store_failures": self.failures,
                "reconnects": self.reconnects,
                "last_store_error": self.last_error,
                "failing_since": self.since,
            }


class Gateway:
    def __init__(
        self,
        broker: BrokerConfig,
        targets: Targets,
        store: Store,
        *,
        settings: GatewaySettings | None = None,
        client_id: str = "capleak-gateway",
        filter: str | None = None,
        header: Header | None = None,
    ) -> None:
        settings = settings or GatewaySettings()
        self.broker = broker
        self.store = store
        self.settings = settings
        fhir_mode = "url" if targets.fhir_url else "dir" if targets.fhir_dir else None
        self.forwarder = Forwarder(
            store,
            continue_s=settings.continue_s,
            outputs=Outputs(fhir_mode),
            header=header,
            filter=filter,
        )
        self.stop_event = threading.Event()
        self.wake = {"hl7": threading.Event(), "fhir": threading.Event()}
        backoff = Backoff(settings.retry_min_s, settings.retry_max_s)
        receivers: list[Receiver] = [
            Hl7Receiver(
                MllpLink(
                    targets.hl7_host,
                    targets.hl7_port,
                    timeout=settings.ack_timeout_s,
                    max_bytes=settings.max_ack_bytes,
                )
            )
        ]
        if targets.fhir_url:
            receivers.append(FhirServer(targets.fhir_url, settings.ack_timeout_s))
        elif targets.fhir_dir:
            receivers.append(FhirDirectory(targets.fhir_dir))
        self.senders = [
            Sender(store, r, backoff, self.stop_event, self.wake[r.name]) for r in receivers
        ]
        self.connected = threading.Event()
        self.errors: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.intake = Intake(backoff)
        self.status_wanted = threading.Event()
        self._reconnecting = False  # a deliberate reconnection (store failure) under way
        self._connect_kwargs: dict[str, Any] = {}
        self.client, self.addr = new_client(broker, client_id, clean_start=False)
        # PUBACK only once the store holds the message (see the module's docstring).
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # -- MQTT ---------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to the broker; subscribing to %s", self.forwarder.subscriptions())
        client.subscribe([(t, 1) for t in self.forwarder.subscriptions()])
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self.stop_event.is_set() and not self._reconnecting:
            log.warning("lost the broker (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if self.intake.blocked:
            return  # not acknowledged: the broker sends it again after the reconnect
        try:
            with self._lock:
                outcome = self.forwarder.receive(
                    msg.topic, bytes(msg.payload), time.time(), bool(msg.retain)
                )
        except (sqlite3.Error, OSError) as e:
            # Not acknowledged, and nothing after it either (the order of each bed).
            with self._lock:
                self.errors["store"] += 1
            self.intake.fail(f"{type(e).__name__}: {e}", time.time())
            log.error(
                "the gateway store could not take a message from %s (%s: %s); not "
                "acknowledged, the broker will send it again",
                msg.topic,
                type(e).__name__,
                e,
            )
            return
        except Exception:
            # A fault of the gateway's own on one message (the schema check passed): it
            # would fail again on every redelivery, so it is logged, counted and skipped.
            log.exception("could not process a message from %s: skipped", msg.topic)
            with self._lock:
                self.errors["processing"] += 1
        else:
            self.intake.stored()
            if outcome == "forwarded":
                for w in self.wake.values():
                    w.set()
        if msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    # -- running ------------------------------------------------------------------------

    def start(self) -> Gateway:
        props = None
        if self.broker.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.reconnect_delay_set(1, 10)
        kwargs: dict[str, Any] = {"keepalive": 30}
        if props is not None:
            kwargs.update(clean_start=False, properties=props)
        self._connect_kwargs = kwargs
        self.client.connect(self.addr.host, self.addr.port, **kwargs)
        self.client.loop_start()
        for s in self.senders:
            s.start()
        return self

    def tick(self, now: float | None = None) -> int:
        with self._lock:
            n = self.forwarder.tick(time.time() if now is None else now)
        if n:
            self.wake["hl7"].set()
        return n

    def run(self, duration: float | None = None) -> None:
        """Tick until :meth:`stop` (or ``duration`` seconds)."""
        end = None if duration is None else time.monotonic() + duration
        while not self.stop_event.wait(TICK_S):
            if self.intake.due():
                self._reconnect()
            try:
                self.tick()
            except Exception:
                log.exception("the continue ticker failed")
                with self._lock:
                    self.errors["tick"] += 1
            if self.status_wanted.is_set():
                self.status_wanted.clear()
                log.warning("status: %s", json.dumps(self.summary(), sort_keys=True))
            if end is not None and time.monotonic() >= end:
                break

    def _reconnect(self) -> None:
        """Drop the MQTT connection and resume the persistent session: the broker sends
        every message not yet acknowledged again, in order."""
        info = self.intake.snapshot()
        log.warning(
            "gateway store failing since %s (%d failures, last: %s): reconnecting so the "
            "broker sends the unacknowledged messages again",
            info["failing_since"],
            info["store_failures"],
            info["last_store_error"],
        )
        self._reconnecting = True
        try:
            self.client.disconnect()
            self.client.loop_stop()
        finally:
            self._reconnecting = False
        self.intake.resume()
        self.client.connect_async(self.addr.host, self.addr.port, **self._connect_kwargs)
        self.client.loop_start()

    def stop(self) -> None:
        self.stop_event.set()
        self.client.loop_stop()
        self.client.disconnect()
        for s in self.senders:
            s.join(self.settings.ack_timeout_s + 1)

    def summary(self) -> dict[str, Any]:
        """Counters for a person or a script (``capleak gateway`` prints it on exit)."""
        with self._lock:
            received = dict(self.forwarder.counts)
            errors = dict(self.errors)
        return {
            "intake": self.intake.snapshot(),
            "received": received,
            "senders": {s.receiver.name: s.snapshot() for s in self.senders},
            "queued": {s.receiver.name: self.store.depth(s.receiver.name) for s in self.senders},
            "store": self.store.counters(),
            "errors": errors,
        }
