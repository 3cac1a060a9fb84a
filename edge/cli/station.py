"""``capleak station``: a reference central-station subscriber, and ``station ack``.

``capleak station --broker URL [--filter SITE/UNIT] [--json]`` subscribes to
``capleak/v1/#`` (or the filter) and shows beds online/offline, active alerts by
priority and the latest dose check, de-duplicating by ``msg_id`` and reporting
``seq`` gaps (``edge.station.model``). ``--json`` prints one JSON object per received
message instead. ``--count``/``--duration`` end it for scripts. ``--share GROUP`` makes
it one member of an MQTT 5 shared subscription: the members split the beds' messages,
and a member reports no gaps (``edge.station.model``, ``docs/scale.md``).

``capleak station ack --broker URL --bed SITE/UNIT/BED --alert CODE`` sends an
acknowledgement and prints the agent's reply (exit 0 when accepted, 1 when refused
or unanswered). With MQTT 5 it uses a response topic and correlation data; with
3.1.1 it listens on ``cmd/ack/reply``.

TLS and credentials come from files (``--ca-file``, ``--cert-file``/``--key-file``,
``--credentials-file``); secrets never go on the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.cli.args import UsageError, bed_path, broker_url, positive_float
from edge.config import BrokerConfig, redact_url
from edge.messaging.mqtt import new_client
from edge.station.model import Station
from edge.vocabulary import iso_time

_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


def _broker_args(p: argparse.ArgumentParser, sub: bool = False) -> None:
    d: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    p.add_argument(
        "--broker", type=broker_url, help="mqtt://HOST[:PORT], mqtts://... or ws://...", **d
    )
    p.add_argument("--protocol", choices=("5", "3.1.1"), help="MQTT version (default 5)", **d)
    p.add_argument("--ca-file", help="CA bundle that signs the broker certificate", **d)
    p.add_argument("--cert-file", help="client certificate (mTLS)", **d)
    p.add_argument("--key-file", help="client private key (mTLS)", **d)
    p.add_argument(
        "--credentials-file", help="TOML file with username and password (never argv)", **d
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "station",
        help="reference central station: watch beds, acknowledge alerts",
        description="Subscribe to the beds' topics (all of them, or --filter) and show "
        "which beds are online or offline, their active alerts by priority and the latest "
        "dose check in words; duplicates are dropped and gaps in the sequence numbers "
        "reported. --json prints one JSON object per received message instead; --count "
        "or --duration end it (for scripts).",
    )
    _broker_args(p)
    p.add_argument("--filter", metavar="SITE[/UNIT[/BED]]", help="only these beds")
    p.add_argument(
        "--share",
        metavar="GROUP",
        help="join the MQTT 5 shared subscription $share/GROUP/...: the members of a group "
        "split the beds' messages; a member reports no seq gaps (docs/scale.md)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per received message")
    p.add_argument("--count", type=int, help="exit after this many messages")
    p.add_argument("--duration", type=positive_float, help="exit after this many seconds")
    p.add_argument(
        "--interval",
        type=positive_float,
        default=5.0,
        help="seconds between board redraws (default: %(default)g)",
    )
    p.set_defaults(func=run_watch)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("ack", help="acknowledge an alert at a bed")
    _broker_args(a, sub=True)
    a.add_argument("--bed", required=True, type=bed_path, metavar="SITE/UNIT/BED")
    a.add_argument("--alert", required=True, metavar="CODE", help="alert code, e.g. hypotension")
    a.add_argument("--source", help="only this source of the alert (e.g. a device id)")
    a.add_argument("--by", default=None, help="operator or station id for the record")
    a.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the reply (default: %(default)g)",
    )
    a.set_defaults(func=run_ack)


def _broker(args: argparse.Namespace) -> BrokerConfig:
    if not getattr(args, "broker", None):
        raise UsageError("--broker is required (mqtt://HOST:PORT)")
    for name in ("ca_file", "cert_file", "key_file", "credentials_file"):
        path = getattr(args, name, None)
        if path is not None and not os.access(path, os.R_OK):
            raise UsageError(f"--{name.replace('_', '-')}: cannot read file {path!r}")
    if (getattr(args, "cert_file", None) is None) != (getattr(args, "key_file", None) is None):
        raise UsageError("--cert-file and --key-file go together (mTLS)")
    return BrokerConfig(
        url=args.broker,
        protocol=getattr(args, "protocol", None) or "5",
        ca_file=getattr(args, "ca_file", None),
        cert_file=getattr(args, "cert_file", None),
        key_file=getattr(args, "key_file", None),
        credentials_file=getattr(args, "credentials_file", None),
    )


def _connect(broker: BrokerConfig, client: mqtt.Client, host: str, port: int) -> None:
    try:
        client.connect(host, port, keepalive=30)
    except (OSError, ValueError) as e:
        raise SystemExit(
            f"capleak station: cannot connect to {redact_url(broker.url)}: {e}"
        ) from None


def run_watch(args: argparse.Namespace) -> int:
    if args.filter and not re.fullmatch(rf"{_ID}(/{_ID}){{0,2}}", args.filter):
        raise UsageError(f"--filter must be SITE, SITE/UNIT or SITE/UNIT/BED, got {args.filter!r}")
    share = getattr(args, "share", None)
    if share is not None and not re.fullmatch(_ID, share):
        raise UsageError(f"--share must be a group name ({_ID}), got {share!r}")
    broker = _broker(args)
    if share is not None and broker.protocol != "5":
        raise UsageError("--share needs MQTT 5 (shared subscriptions): drop --protocol 3.1.1")
    station = Station(args.filter, share=share)
    client, addr = new_client(broker, f"capleak-station-{uuid.uuid4().hex[:8]}", clean_start=True)
    lock = threading.Lock()
    received = 0
    done = threading.Event()
    connected = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            print(f"capleak station: broker refused: {reason_code}", file=sys.stderr)
            done.set()
            return
        connected.set()
        c.subscribe([(topic, 1) for topic in station.subscriptions()])

    def on_message(c, userdata, msg):
        nonlocal received
        with lock:
            r = station.receive(msg.topic, msg.payload, bool(msg.retain))
            if r is None:
                return
            received += 1
            if args.json:
                print(json.dumps(r.to_dict(), separators=(",", ":")), flush=True)
            elif r.gap:
                print(f"{r.bed}: seq gap {r.gap[0]}..{r.gap[1]}", flush=True)
            if args.count and received >= args.count:
                done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    _connect(broker, client, addr.host, addr.port)
    client.loop_start()
    start = time.monotonic()
    last_draw = 0.0
    try:
        while not done.is_set():
            if args.duration and time.monotonic() - start >= args.duration:
                break
            done.wait(0.2)
            if not args.json and time.monotonic() - last_draw >= args.interval:
                last_draw = time.monotonic()
                with lock:
                    print(station.render() + "\n", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()
    if not args.json:
        print(station.render(), flush=True)
    return 0 if connected.is_set() else 1


def run_ack(args: argparse.Namespace) -> int:
    broker = _broker(args)
    reply = send_command(
        broker,
        args.bed,
        "ack",
        {"alert": args.alert, **({"source": args.source} if args.source else {})},
        by=args.by,
        timeout=args.timeout,
    )
    if reply is None:
        print(
            f"capleak station: no reply from {args.bed} within {args.timeout:g} s", file=sys.stderr
        )
        return 1
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


def send_command(
    broker: BrokerConfig,
    bed: str,
    name: str,
    args: dict[str, Any],
    *,
    by: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any] | None:
    """Send one command to ``bed`` and wait for its reply (None on timeout)."""
    client_id = f"capleak-station-{uuid.uuid4().hex[:8]}"
    client, addr = new_client(broker, client_id, clean_start=True)
    topic = f"capleak/v1/{bed}/cmd/{name}"
    request_id = str(uuid.uuid4())
    v5 = broker.protocol == "5"
    # The last level is the bed id: the shipped ACL lets a bed write only replies
    # ending in its own id, so no bed can answer for another.
    bed_id = bed.rsplit("/", 1)[-1]
    reply_topic = f"capleak-station/{client_id}/reply/{bed_id}" if v5 else f"{topic}/reply"
    body = {
        "msg_id": request_id,
        "time": iso_time(time.time()),
        "bed": bed,
        **args,
        **({"by": by} if by else {}),
    }
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    answered = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            c.subscribe(reply_topic, qos=1)

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        ready.set()

    def on_message(c, userdata, msg):
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("request_id") == request_id:
            got.append(data)
            answered.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    _connect(broker, client, addr.host, addr.port)
    client.loop_start()
    try:
        if not ready.wait(timeout):
            return None
        props = None
        if v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = reply_topic
            props.CorrelationData = request_id.encode()
        client.publish(topic, json.dumps(body), qos=1, properties=props).wait_for_publish(timeout)
        answered.wait(timeout)
        return got[0] if got else None
    finally:
        client.loop_stop()
        client.disconnect()
