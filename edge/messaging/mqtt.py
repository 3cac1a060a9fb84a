"""MQTT plumbing: broker URLs and configured paho clients (paho-mqtt >= 2).

Facts relied on (``shared/docs/messaging-and-ops.md``, "paho-mqtt 2.x facts"):
``Client(CallbackAPIVersion.VERSION2, ...)``; ``tls_set`` verifies the broker
certificate and host name by default; ``will_set`` must precede ``connect``.
Secrets come from the credentials file and never reach logs or argv.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from edge.config import BrokerConfig, ConfigError, read_credentials, redact_url

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    scheme: str
    host: str
    port: int
    path: str = "/mqtt"

    @property
    def tls(self) -> bool:
        return self.scheme in ("mqtts", "wss")

    @property
    def transport(self) -> Literal["tcp", "websockets"]:
        return "websockets" if self.scheme in ("ws", "wss") else "tcp"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://host[:port]``, ``mqtts://``, ``ws://`` or ``wss://``.

    >>> parse_broker_url("mqtt://127.0.0.1:1884")
    BrokerAddress(scheme='mqtt', host='127.0.0.1', port=1884, path='/mqtt')
    >>> parse_broker_url("mqtts://broker.example").port
    8883
    """
    parts = urlsplit(url)
    shown = redact_url(url)  # never a password in an error message
    if parts.scheme not in _DEFAULT_PORTS:
        raise ConfigError("broker.url", f"scheme must be mqtt, mqtts, ws or wss, got {shown!r}")
    if not parts.hostname:
        raise ConfigError("broker.url", f"has no host: {shown!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError("broker.url", f"has a bad port: {shown!r}") from None
    return BrokerAddress(parts.scheme, parts.hostname, port, parts.path or "/mqtt")


def new_client(
    broker: BrokerConfig, client_id: str, *, clean_start: bool = False
) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho client configured from ``broker`` (TLS, credentials, protocol).

    The caller sets callbacks and the Will, then connects to the returned address.
    """
    addr = parse_broker_url(broker.url)
    protocol = mqtt.MQTTv5 if broker.protocol == "5" else mqtt.MQTTv311
    kwargs = {}
    if protocol == mqtt.MQTTv311:
        kwargs["clean_session"] = clean_start
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        transport=addr.transport,
        **kwargs,
    )
    if addr.transport == "websockets":
        client.ws_set_options(path=addr.path)
    if addr.tls or broker.ca_file or broker.cert_file:
        client.tls_set(
            ca_certs=broker.ca_file,
            certfile=broker.cert_file,
            keyfile=broker.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    if broker.credentials_file:
        user, password = read_credentials(broker.credentials_file)
        client.username_pw_set(user, password)
        log.info("using credentials for user %r from %s", user, broker.credentials_file)
    return client, addr


#: MQTT topic names are UTF-8 strings of at most 65,535 bytes (MQTT 3.1.1 section 1.5.3,
#: MQTT 5.0 section 1.5.4).
TOPIC_MAX_BYTES = 65_535


def topic_name_problem(topic: object) -> str | None:
    """Why ``topic`` cannot be published to, or None when it can.

    The rules of MQTT 3.1.1 section 4.7 and MQTT 5.0 section 4.7 for a topic *name*
    (what a PUBLISH carries, e.g. an MQTT 5 response topic): at least one
    character, at most 65,535 bytes of UTF-8, no wildcard ``+`` or ``#``, no
    U+0000; names starting with ``$`` belong to the broker (``$SYS``). Control
    characters (U+0001-U+001F, U+007F-U+009F: "SHOULD NOT" in 5.0 section 1.5.4)
    are refused too: they end up in logs.

    >>> topic_name_problem("capleak-station/replies/1") is None
    True
    >>> topic_name_problem("a/#")
    'contains the wildcard #'
    """
    if not isinstance(topic, str):
        return "is not a string"
    if not topic:
        return "is empty"
    for wildcard in "+#":
        if wildcard in topic:
            return f"contains the wildcard {wildcard}"
    if "\0" in topic:
        return "contains U+0000"
    if topic.startswith("$"):
        return "starts with $ (reserved for the broker)"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in topic):
        return "contains a control character"
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > TOPIC_MAX_BYTES:
        return f"is {size} bytes long (at most {TOPIC_MAX_BYTES})"
    return None
