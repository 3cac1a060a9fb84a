"""``capleak gateway``: forward the beds' vitals and alerts to hospital systems.

``capleak gateway --broker URL --hl7 mllp://HOST:PORT [--fhir DIR|URL] [--state-dir DIR]
[--filter SITE/UNIT]`` subscribes as a station and sends vitals as IHE PCD-01
(``ORU^R01``) and alert events as IHE PCD-04 (``ORU^R40``) over HL7 v2 MLLP, and, with
``--fhir``, FHIR R4 Bundles to a directory or a server's base URL (``http(s)://``).
Messages wait in the gateway's own SQLite store (``--state-dir``) until acknowledged.
Stops on SIGTERM/SIGINT (or after ``--duration``) and prints its counters as JSON;
SIGUSR1 logs them (and the intake's state) while it runs.
Needs the ``gateway`` extra (``pip install 'capleak[gateway]'``). ``docs/integration.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import signal
import socket
import sys
from typing import Any

from edge.cli.args import positive_float
from edge.cli.station import _broker, _broker_args
from edge.config import ConfigError

_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


def add_parser(sub: argparse._SubParsersAction) -> None:
    # The settings' module imports nothing heavy: its defaults and docs make the options.
    from edge.station.gateway.settings import GatewaySettings

    p = sub.add_parser(
        "gateway",
        help="hospital gateway: vitals and alerts as IHE PCD-01/PCD-04 (HL7 v2 MLLP), FHIR R4",
        description=__doc__.split("\n\n")[1],
    )
    _broker_args(p)
    p.add_argument("--hl7", required=True, metavar="mllp://HOST:PORT", help="the MLLP receiver")
    p.add_argument(
        "--fhir", metavar="DIR|URL", help="also write FHIR Bundles to DIR or POST them to URL"
    )
    p.add_argument(
        "--state-dir",
        default="/var/lib/capleak-gateway",
        help="the gateway's SQLite store (default %(default)s)",
    )
    p.add_argument("--filter", metavar="SITE[/UNIT[/BED]]", help="only these beds")
    p.add_argument(
        "--client-id",
        default=None,
        help="MQTT client id; keep it fixed, the broker keeps the session under it "
        "(default capleak-gateway-HOSTNAME)",
    )
    p.add_argument("--sending-app", default="CAPLEAK", help="MSH-3 (default %(default)s)")
    p.add_argument("--sending-facility", default="", help="MSH-4")
    p.add_argument("--receiving-app", default="", help="MSH-5")
    p.add_argument("--receiving-facility", default="", help="MSH-6")
    p.add_argument("--duration", type=positive_float, help="exit after this many seconds")
    for f in dataclasses.fields(GatewaySettings):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=int if f.type in (int, "int") else float,
            default=f.default,
            help=f"{f.metadata['doc']} (default {f.default})",
        )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import hl7  # noqa: F401  (the `gateway` extra)
    except ImportError:
        print(
            "capleak gateway: needs the 'hl7' package: pip install 'capleak[gateway]'",
            file=sys.stderr,
        )
        return 1
    from edge.station.gateway.hl7v2 import Header
    from edge.station.gateway.mllp import parse_mllp_url
    from edge.station.gateway.service import Gateway, Targets
    from edge.station.gateway.settings import GatewaySettings, validate
    from edge.station.gateway.store import Store

    if args.filter and not re.fullmatch(rf"{_ID}(/{_ID}){{0,2}}", args.filter):
        raise ConfigError(
            "--filter", f"must be SITE, SITE/UNIT or SITE/UNIT/BED, got {args.filter!r}"
        )
    broker = _broker(args)
    host, port = parse_mllp_url(args.hl7)
    fhir_dir = fhir_url = None
    if args.fhir:
        if re.match(r"https?://", args.fhir):
            fhir_url = args.fhir
        elif "://" in args.fhir:
            raise ConfigError("--fhir", f"must be a directory or an http(s) URL, got {args.fhir!r}")
        else:
            fhir_dir = args.fhir
    settings = validate(
        GatewaySettings(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(GatewaySettings)}
        )
    )
    try:
        store = Store.in_dir(
            args.state_dir,
            max_messages=settings.max_messages,
            dedup_size=settings.dedup_size,
            dead_letters_kept=settings.dead_letters_kept,
        )
    except OSError as e:
        raise ConfigError(
            "--state-dir", f"cannot open the store in {args.state_dir!r}: {e}"
        ) from None
    gateway = Gateway(
        broker,
        Targets(host, port, fhir_dir, fhir_url),
        store,
        settings=settings,
        client_id=args.client_id or f"capleak-gateway-{socket.gethostname()}"[:64],
        filter=args.filter,
        header=Header(
            args.sending_app, args.sending_facility, args.receiving_app, args.receiving_facility
        ),
    )

    def stop(signum: int, frame: Any) -> None:
        gateway.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # SIGUSR1: log the status (counters, the intake's state) at the next tick.
    signal.signal(signal.SIGUSR1, lambda signum, frame: gateway.status_wanted.set())
    try:
        gateway.start()
    except (OSError, ValueError) as e:
        print(f"capleak gateway: cannot connect to the broker: {e}", file=sys.stderr)
        store.close()
        return 1
    try:
        gateway.run(args.duration)
    finally:
        gateway.stop()
        print(json.dumps(gateway.summary(), sort_keys=True), flush=True)
        store.close()
    return 0
