"""The running gateway: an MQTT subscriber, the store, one sender per receiver, a ticker.

Threads: paho's network loop calls :meth:`Gateway._on_message`, which commits what the
message produces to the store (so paho's PUBACK, sent after the callback returns,
never acknowledges something not yet stored); one :class:`~.delivery.Sender` per
receiver; the caller's thread runs :meth:`Gateway.run` (the ``continue`` ticker).

The MQTT session is persistent (a fixed client id, MQTT 5 session expiry
``SESSION_EXPIRY_S`` / 3.1.1 ``clean_session=False``, QoS 1 subscriptions): while the
gateway is down the broker keeps its messages, up to its own limit
(mosquitto's ``max_queued_messages``, ``messaging-and-ops.md``).
"""

from __future__ import annotations

import logging
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
        self.client, self.addr = new_client(broker, client_id, clean_start=False)
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
        if not self.stop_event.is_set():
            log.warning("lost the broker (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            with self._lock:
                outcome = self.forwarder.receive(
                    msg.topic, bytes(msg.payload), time.time(), bool(msg.retain)
                )
        except Exception:  # one bad message must not stop the subscriber
            log.exception("could not store a message from %s", msg.topic)
            self.errors["store"] += 1
            return
        if outcome == "forwarded":
            for w in self.wake.values():
                w.set()

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
            try:
                self.tick()
            except Exception:
                log.exception("the continue ticker failed")
                self.errors["tick"] += 1
            if end is not None and time.monotonic() >= end:
                break

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
        return {
            "received": received,
            "senders": {s.receiver.name: s.snapshot() for s in self.senders},
            "queued": {s.receiver.name: self.store.depth(s.receiver.name) for s in self.senders},
            "store": self.store.counters(),
            "errors": dict(self.errors),
        }
