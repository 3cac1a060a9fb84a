"""``capleak decode --driver NAME [FILE|-]``: raw device bytes -> one JSON object per Reading.

Contract (issue #3; other tests rely on it):
- stdout: one JSON object per line with ``signal``, ``value`` (number), ``unit``,
  ``flags`` (sorted list), ``source`` (the driver name), and ``time`` (ISO 8601)
  only when the frame itself carries a time (e.g. Masimo's date-time).
- Missing values (dashes, 127/511) print nothing. For polled drivers the input
  is the device's captured answers.
- Corrupt frames print nothing; their count (by reason) goes to stderr at the end.

``--capture`` reads a ``capleak capture`` file instead of raw bytes; readings
without a device time then get the capture's receive time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import IO

from drivers.capture import read_capture
from drivers.registry import driver_names, get_driver
from edge.vocabulary import Reading, iso_time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decode raw device bytes to JSON readings",
        description="Decode raw bytes from a bedside device (a file or stdin) with a "
        "driver and print one JSON object per reading.",
    )
    p.add_argument("--driver", required=True, choices=driver_names(), help="driver name")
    p.add_argument("file", nargs="?", default="-", help="raw bytes (default: stdin)")
    p.add_argument(
        "--capture", action="store_true", help="the input is a file written by capleak capture"
    )
    p.set_defaults(func=run)


def reading_json(r: Reading) -> str:
    d: dict[str, object] = {
        "signal": r.signal,
        "value": r.value,
        "unit": r.unit,
        "flags": sorted(r.flags),
        "source": r.source,
    }
    if r.time is not None:
        d["time"] = iso_time(r.time)
    return json.dumps(d)


def _chunks(stream: IO[bytes], capture: bool) -> object:
    if capture:
        import io

        text = io.TextIOWrapper(stream, encoding="ascii", errors="replace")
        for t, direction, data in read_capture(text):
            if direction == "rx":
                yield data, t
        return
    read = getattr(stream, "read1", stream.read)  # read1: a live pipe is decoded as it comes
    while chunk := read(65536):
        yield chunk, None


def run(args: argparse.Namespace) -> int:
    spec = get_driver(args.driver)
    decoder = spec.decoder(spec.name, {})
    out = sys.stdout
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as e:
        print(f"capleak decode: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        for data, now in _chunks(stream, args.capture):  # type: ignore[attr-defined]
            for r in decoder.feed(data, now=now):
                out.write(reading_json(r) + "\n")
            out.flush()
    except ValueError as e:
        print(f"capleak decode: {args.file}: {e}", file=sys.stderr)
        return 1
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    out.flush()
    rejected: Counter[str] = decoder.rejected
    total = sum(rejected.values())
    if total:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
        print(f"capleak decode: {total} corrupt frame(s) skipped ({reasons})", file=sys.stderr)
    return 0
