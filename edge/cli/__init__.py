"""The ``capleak`` command: thin shells over the library.

Each subcommand lives in its own module of this package exposing ``add_parser(subparsers)``;
the parser it adds sets ``func(args) -> int``. A subcommand is listed in
:data:`COMMANDS` only once it works.

Exit codes: 0 success, 1 failure, 2 usage error (argparse, or
:class:`edge.cli.args.UsageError` raised by a subcommand), 65 bad input data
(``EX_DATAERR``, e.g. a replay CSV without a usable row), 78 configuration error
(``EX_CONFIG``, so systemd's ``RestartPreventExitStatus=78`` stops a restart loop on a
bad config file).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import textwrap
from collections.abc import Sequence

from edge import __version__
from edge.cli.args import UsageError
from edge.config import EX_CONFIG, ConfigError

#: Subcommand modules, in the order ``capleak --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "edge.cli.check_config",
    "edge.cli.run",
    "edge.cli.demo",
    "edge.cli.decode",
    "edge.cli.simulate",
    "edge.cli.capture",
    "edge.cli.replay",
    "edge.cli.station",
    "edge.cli.fleet",
    "edge.cli.gateway",
    "edge.cli.board",
    "edge.cli.evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capleak",
        description="Bedside capillary-leak monitor for high-dose IL-2 therapy. "
        "Decision support only: it never decides a dose.",
    )
    parser.add_argument("--version", action="version", version=f"capleak {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def config_error_message(e: ConfigError) -> str:
    """One paragraph for a person, naming the key and the problem."""
    where = f" in {e.source}" if e.source else ""
    text = (
        f"capleak: configuration error{where}: {e.key}: {e.problem}. "
        "Fix the file and try again; `capleak check-config FILE` validates it "
        "without starting anything."
    )
    return textwrap.fill(text, width=100)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"capleak {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(config_error_message(e), file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
