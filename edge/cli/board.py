"""``capleak board``: the ward board, a web page for the central station.

``capleak board --broker URL [--listen HOST:PORT] [--filter SITE/UNIT] [--auth-file FILE]``
subscribes as a station (de-duplication by ``msg_id``, gaps by ``seq``) and serves a
tile per bed, a bed view with 72 h trends and acknowledge/silence buttons on
``http://HOST:PORT/`` (default ``127.0.0.1:8080``). Listening on anything but
loopback needs ``--auth-file``; ``capleak board passwd --auth-file FILE --user NAME``
adds a user (the password is read from the terminal or standard input).
"""

from __future__ import annotations

import argparse
import getpass
import re
import signal
import sys
import threading

from edge.cli.station import _broker, _broker_args
from edge.config import ConfigError, redact_url
from edge.station.board import ServerSettings, open_board
from edge.station.board.auth import set_user

_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


def listen_address(text: str) -> tuple[str, int]:
    """argparse type: ``HOST:PORT`` (``[::1]:PORT`` for IPv6)."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", text)
    if not m:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return host, port


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "board",
        help="the ward board: a web page for the central station",
        description=__doc__.split("\n\n")[1],
    )
    _broker_args(p)
    p.add_argument(
        "--listen",
        type=listen_address,
        default=("127.0.0.1", 8080),
        metavar="HOST:PORT",
        help="where to serve (default 127.0.0.1:8080; port 0 picks a free one)",
    )
    p.add_argument("--filter", metavar="SITE[/UNIT[/BED]]", help="only these beds")
    p.add_argument("--auth-file", help="password file (capleak board passwd); needed off loopback")
    p.add_argument(
        "--secure-cookie",
        action="store_true",
        help="mark the session cookie Secure (behind a TLS reverse proxy)",
    )
    p.add_argument("--duration", type=float, help="exit after this many seconds (scripts)")
    p.set_defaults(func=run_board)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("passwd", help="add or change a user in the password file")
    a.add_argument("--auth-file", required=True, default=argparse.SUPPRESS)
    a.add_argument("--user", required=True)
    a.set_defaults(func=run_passwd)


def run_board(args: argparse.Namespace) -> int:
    if args.filter and not re.fullmatch(rf"{_ID}(/{_ID}){{0,2}}", args.filter):
        raise ConfigError(
            "--filter", f"must be SITE, SITE/UNIT or SITE/UNIT/BED, got {args.filter!r}"
        )
    broker = _broker(args)
    board = open_board(
        broker,
        args.listen,
        filter=args.filter,
        auth_file=args.auth_file,
        server_settings=ServerSettings(secure_cookie=args.secure_cookie),
    )
    assert board.link is not None
    state = "connected to" if board.link.connected.is_set() else "connecting to"
    print(f"capleak board: serving {board.url} ({state} {redact_url(broker.url)})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
        board.link.stop()
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            print("capleak board passwd: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    set_user(args.auth_file, args.user, password)
    print(f"capleak board passwd: {args.user} saved in {args.auth_file}")
    return 0
