"""The board's one MQTT connection: subscribe as a station, send commands, take replies.

Messages under ``capleak/v1/`` go to :class:`~edge.station.board.ward.Ward`. Commands
(``ack``, ``silence``) are published on the bed's ``cmd/<name>`` topic at QoS 1 with
``msg_id``, ``time``, ``bed`` and ``by``. With MQTT 5 the reply comes on the response
topic ``capleak-station/<client id>/reply/<bed id>`` (the shape the shipped ACL
allows, ``docs/security.md``); the reply still carries the bed's ``seq``, so it is
fed to the station model under its ``cmd/<name>/reply`` topic and opens no false
gap. With MQTT 3.1.1 the reply arrives on ``cmd/<name>/reply`` with the rest.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import BrokerConfig, redact_url
from edge.messaging.mqtt import new_client
from edge.station.board.ward import Ward
from edge.vocabulary import iso_time

log = logging.getLogger(__name__)

#: Replies kept for requests not yet collected (bounded: a reply nobody waits for).
MAX_PENDING = 1000


class BoardLink:
    """One paho client feeding ``ward`` and carrying commands to beds."""

    def __init__(self, broker: BrokerConfig, ward: Ward) -> None:
        self.broker = broker
        self.ward = ward
        self.client_id = f"capleak-board-{uuid.uuid4().hex[:8]}"
        self.client, self.addr = new_client(broker, self.client_id, clean_start=True)
        self.v5 = broker.protocol == "5"
        self.connected = threading.Event()
        self.refused: str | None = None
        self._replies: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self._beds: dict[str, tuple[str, str]] = {}  # request id -> (bed, command)
        self._cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 10)  # seconds, doubling (paho)

    @property
    def reply_prefix(self) -> str:
        return f"capleak-station/{self.client_id}/reply/"

    def start(self, timeout: float = 10.0) -> BoardLink:
        """Connect (in the background: a broker that is down is retried, not fatal)."""
        try:
            self.client.connect_async(self.addr.host, self.addr.port, keepalive=30)
        except (OSError, ValueError) as e:
            raise ConnectionError(f"cannot connect to {redact_url(self.broker.url)}: {e}") from e
        self.client.loop_start()
        self.connected.wait(timeout)
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (paho's thread) ------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            log.error("broker %s refused the board: %s", redact_url(self.broker.url), reason_code)
            return
        subs = [(self.ward.station.subscription(), 1)]
        if self.v5:
            subs.append((self.reply_prefix + "+", 1))
        client.subscribe(subs)
        self.connected.set()
        log.info("board connected to %s", redact_url(self.broker.url))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if reason_code.is_failure:
            log.warning("board lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        topic = msg.topic
        if topic.startswith(self.reply_prefix):
            self._response(bytes(msg.payload))
            return
        event = self.ward.receive(topic, bytes(msg.payload), bool(msg.retain))
        if event and event["type"] == "reply":
            self._take(event["reply"])

    def _response(self, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            log.warning("a reply that is not JSON on the board's response topic")
            return
        if not isinstance(body, dict):
            return
        with self._cond:
            where = self._beds.get(str(body.get("request_id")))
        if where is None:
            log.info("a reply to no request of ours: %s", body.get("request_id"))
            return
        bed, command = where
        # Feed the station model: the reply took a seq from the bed's counter.
        event = self.ward.receive(f"capleak/v1/{bed}/cmd/{command}/reply", payload)
        self._take(body)
        if event is None:  # a duplicate (or over the bed limit): still tell the pages
            self.ward.publish_event({"type": "reply", "bed": bed, "reply": body})

    def _take(self, reply: dict[str, Any]) -> None:
        rid = reply.get("request_id")
        if not isinstance(rid, str):
            return
        with self._cond:
            if rid in self._replies and self._replies[rid] is None:
                self._replies[rid] = reply
                self._cond.notify_all()

    # -- commands (HTTP threads) -------------------------------------------------------

    def send(self, bed: str, name: str, args: dict[str, Any], by: str) -> str:
        """Publish command ``name`` to ``bed``; returns its request id (the ``msg_id``)."""
        if not self.connected.is_set():
            raise ConnectionError("the board is not connected to the broker")
        request_id = str(uuid.uuid4())
        body = {"msg_id": request_id, "time": iso_time(time.time()), "bed": bed, "by": by, **args}
        with self._cond:
            self._replies[request_id] = None
            self._beds[request_id] = (bed, name)
            while len(self._replies) > MAX_PENDING:
                old, _ = self._replies.popitem(last=False)
                self._beds.pop(old, None)
        props = None
        if self.v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.reply_prefix + bed.rsplit("/", 1)[-1]
            props.CorrelationData = request_id.encode()
        info = self.client.publish(
            f"capleak/v1/{bed}/cmd/{name}", json.dumps(body), 1, False, props
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish failed: {mqtt.error_string(info.rc)}")
        log.info("sent %s to %s as %s (request %s)", name, bed, by, request_id)
        return request_id

    def wait_reply(self, request_id: str, timeout: float) -> dict[str, Any] | None:
        """The bed's reply to ``request_id``, or None when none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                reply = self._replies.get(request_id)
                left = deadline - time.monotonic()
                if reply is not None or left <= 0:
                    return reply
                self._cond.wait(left)
