"""``capleak fleet``: N virtual bedside agents against a broker (``edge.lab.fleet``).

``capleak fleet --broker URL --beds N --duration S [--speed X] [--site S --unit U]
[--processes P]`` runs N beds, each the real chain (virtual patient -> core -> alert
book -> outbox -> MQTT) with its own bed id, client id, Will and outbox, spread over P
processes. A progress line goes to stderr every second; the summary (published,
acknowledged, each bed's ``seq`` range) to stdout, as text or with ``--json`` as one
JSON object. Exit 0 when the broker acknowledged everything every bed stored, 1
otherwise (the state directory is then kept: the beds' outboxes still hold it).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from edge.cli.args import BED_PART, UsageError, broker_url, positive_float


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet",
        help="many virtual beds (the real agent each) against a broker: load and delivery",
        description="Run N virtual bedside agents, each the real chain (virtual patient -> "
        "core -> alert book -> SQLite outbox -> MQTT) with its own bed id, client id, Will "
        "and outbox, spread over P processes; report what was published and acknowledged "
        "and each bed's seq range. Exit 0 when everything was acknowledged. docs/scale.md",
    )
    p.add_argument("--broker", required=True, type=broker_url, help="mqtt://HOST[:PORT]")
    p.add_argument("--beds", required=True, type=_count, help="number of virtual beds")
    p.add_argument(
        "--duration", required=True, type=positive_float, help="real seconds of readings"
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="simulated seconds per real second (default %(default)g: real rates, "
        "SpO2 and pulse at 1 Hz per bed)",
    )
    p.add_argument("--site", default="fleet", help="site topic level (default %(default)s)")
    p.add_argument("--unit", default="unit-1", help="unit topic level (default %(default)s)")
    p.add_argument(
        "--processes",
        type=_count,
        help="worker processes (default: one per 50 beds, at least one, at most the beds)",
    )
    p.add_argument("--protocol", choices=("5", "3.1.1"), default="5", help="MQTT version")
    p.add_argument(
        "--drain",
        type=positive_float,
        default=30.0,
        help="seconds to wait for the broker's acknowledgements at the end (default %(default)g)",
    )
    p.add_argument("--seed", type=int, default=1, help="virtual patients' seed (default 1)")
    p.add_argument(
        "--state-dir",
        help="the beds' outboxes go to STATE_DIR/BED (default: a temporary directory, "
        "removed when everything was acknowledged)",
    )
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    p.set_defaults(func=run_fleet_command)


def run_fleet_command(args: argparse.Namespace) -> int:
    from edge.lab.fleet import FleetPlan, run_fleet

    for name in ("site", "unit"):
        if not BED_PART.fullmatch(getattr(args, name)):
            raise UsageError(f"--{name} must be letters, digits, '_', '.', '-'")
    processes = args.processes or min(args.beds, max(1, (args.beds + 49) // 50))
    if processes > args.beds:
        raise UsageError(f"--processes ({processes}) is more than --beds ({args.beds})")
    temporary = args.state_dir is None
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="capleak-fleet-")
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    try:
        plan = FleetPlan(
            broker_url=args.broker,
            beds=args.beds,
            duration_s=args.duration,
            state_dir=state_dir,
            speed=args.speed,
            site=args.site,
            unit=args.unit,
            processes=processes,
            drain_s=args.drain,
            seed=args.seed,
            protocol=args.protocol,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(
        f"capleak fleet: {plan.beds} beds in {plan.processes} process(es), "
        f"{plan.duration_s:g} s at x{plan.speed:g} -> {plan.broker_url}",
        file=sys.stderr,
        flush=True,
    )
    result = run_fleet(plan, progress=lambda line: print(line, file=sys.stderr, flush=True))
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary, separators=(",", ":")), flush=True)
    else:
        print(_text(summary), flush=True)
    if result.ok and temporary:
        shutil.rmtree(state_dir, ignore_errors=True)
    elif not result.ok:
        print(f"capleak fleet: the beds' outboxes are kept in {state_dir}", file=sys.stderr)
    return 0 if result.ok else 1


def _text(s: dict) -> str:
    lines = [
        f"{s['beds']} beds, {s['elapsed_s']:.1f} s: published {s['published']:,} messages, "
        f"acknowledged {s['acknowledged']:,}, unacknowledged {s['unacknowledged']:,}; "
        f"{s['readings']:,} readings delivered, {s['dropped']:,} dropped",
    ]
    lines += [f"error: {e}" for e in s["errors"]]
    lines.append("seq per bed:")
    for b in s["per_bed"]:
        flag = "" if b["ready"] and not b["unacknowledged"] else "  <- NOT ALL ACKNOWLEDGED"
        lines.append(
            f"  {b['bed']}  {b['first_seq']}..{b['last_seq']}  published {b['published']}, "
            f"unacknowledged {b['unacknowledged']}{flag}"
        )
    lines.append("all acknowledged" if s["ok"] else "NOT all acknowledged")
    return "\n".join(lines)
