"""``capleak capture --port URL --driver NAME --out FILE``: record a real device's raw bytes.

A biomedical engineer points it at a monitor (or a serial device server) for a
while; the file (format in :mod:`drivers.capture`) can then be decoded offline
(``capleak decode --capture``), replayed (``capleak simulate --replay``) and
added to the driver test corpus. Polled drivers are polled on their schedule
(the poll commands are recorded as ``tx`` lines). Stops on Ctrl-C / SIGTERM or
after ``--duration`` seconds; a summary goes to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from drivers.capture import CaptureWriter
from drivers.registry import driver_names, get_driver
from drivers.transport import DeviceLink, SerialSettings
from edge.clock import SystemClock
from edge.vocabulary import iso_time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="record a device's raw bytes with time stamps",
        description="Record raw bytes from a device (any pyserial URL) with receive "
        "times, polling it if its driver polls.",
    )
    p.add_argument("--port", required=True, help="pyserial URL or device path")
    p.add_argument("--driver", required=True, choices=driver_names())
    p.add_argument("--out", required=True, help="capture file to write ('-' = stdout)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--baudrate", type=int, help="baud rate (driver default when unset)")
    p.add_argument("--parity", choices=("N", "E", "O", "M", "S"))
    p.add_argument("--poll-interval", type=float, help="poll period for polled drivers (s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = get_driver(args.driver)
    settings = SerialSettings(
        device_id=spec.name,
        port=args.port,
        baudrate=args.baudrate,
        parity=args.parity,
        poll_interval_s=args.poll_interval,
    )
    done = threading.Event()

    def stop(*_: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    clock = SystemClock()
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="ascii")  # noqa: SIM115
    header = (
        f"driver={spec.name} port={args.port} baudrate={args.baudrate or spec.baudrate} "
        f"started={iso_time(clock.now())}"
    )
    writer = CaptureWriter(out, header)
    lock = threading.Lock()
    statuses: list[str] = []

    def on_bytes(direction: str, data: bytes, t: float) -> None:
        with lock:
            writer.write(direction, data, t)

    link = DeviceLink(
        settings,
        spec,
        clock,
        on_reading=lambda r: None,
        on_status=lambda s: statuses.append(f"{'online' if s.online else 'offline'}: {s.reason}"),
        on_bytes=on_bytes,
    )
    link.start()
    try:
        done.wait(args.duration)
    finally:
        link.stop()
        if out is not sys.stdout:
            out.close()
    print(
        f"capleak capture: {writer.chunks} chunks, {writer.bytes} bytes, "
        f"{link.readings_out} readings decoded; {'; '.join(statuses) or 'no data'}",
        file=sys.stderr,
    )
    return 0
