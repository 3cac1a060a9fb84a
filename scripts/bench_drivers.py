"""Driver benchmarks; run through ``scripts/bench-drivers`` (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time

from drivers import accutorr, ad_scale, masimo_ascii, mt_sics, nellcor_n595, nonin_df2, nonin_df7
from drivers.registry import get_driver


def streams(n: int) -> dict[str, bytes]:
    """About ``n`` frames of each driver's traffic, values varying."""
    return {
        "masimo-ascii": b"".join(
            masimo_ascii.encode(masimo_ascii.MasimoSample(1.7e9 + i, 90 + i % 10, 60 + i % 50, 2.5))
            for i in range(n)
        ),
        "nonin-df2": b"".join(
            nonin_df2.encode(nonin_df2.NoninSample(90 + i % 10, 60 + i % 50)) for i in range(n)
        ),
        "nonin-df7": b"".join(
            nonin_df7.encode(nonin_df2.NoninSample(90 + i % 10, 60 + i % 50)) for i in range(n)
        ),
        "accutorr": b"".join(
            accutorr.encode(accutorr.AccutorrAnswer(97, 70, 100 + i % 50, 80, 60, i % 15))
            for i in range(n)
        ),
        "ad-scale": b"".join(ad_scale.encode(ad_scale.ScaleLine(70 + i / 100)) for i in range(n)),
        "nellcor-n595": b"".join(
            nellcor_n595.encode(nellcor_n595.NellcorLine(1.7e9 + 2 * i, 90 + i % 10, 60 + i % 50))
            for i in range(n)
        ),
        "mt-sics": b"".join(
            mt_sics.encode(mt_sics.SicsAnswer("S", 70 + i / 100)) for i in range(n)
        ),
    }


def throughput(n: int) -> None:
    print(f"## decode throughput ({n} frames/packets per driver, 4096-byte chunks)")
    for name, data in streams(n).items():
        decoder = get_driver(name).decoder(name, {})
        t0 = time.perf_counter()
        count = 0
        for i in range(0, len(data), 4096):
            count += len(decoder.feed(data[i : i + 4096], now=1.7e9))
        dt = time.perf_counter() - t0
        print(
            f"{name:14s} {count / dt:12,.0f} readings/s  {len(data) / dt / 1e6:7.2f} MB/s  "
            f"({count} readings in {dt:.3f} s)"
        )


def follow(paths: list[tuple[str, str]], seconds: float) -> None:
    """In this process: follow devices for ``seconds``, print own CPU use as JSON."""
    from drivers.transport import DeviceLink, SerialSettings
    from edge.clock import SystemClock

    counts = {name: 0 for name, _ in paths}
    lock = threading.Lock()
    links = []
    for name, path in paths:

        def on_reading(r, name=name):
            with lock:
                counts[name] += 1

        dev = SerialSettings(device_id=name, port=path)
        links.append(DeviceLink(dev, get_driver(name), SystemClock(), on_reading, lambda s: None))
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.monotonic()
    for link in links:
        link.start()
    time.sleep(seconds)
    for link in links:
        link.stop()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - w0
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "readings": counts}))


def measure(label: str, sims: list[list[str]], drivers: list[str], seconds: float) -> None:
    procs = []
    try:
        paths = []
        for args, name in zip(sims, drivers, strict=True):
            p = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "simulate", "--device", name, *args],
                stdout=subprocess.PIPE,
            )
            procs.append(p)
            paths.append(f"{name}={p.stdout.readline().decode().strip()}")
        out = subprocess.run(
            [sys.executable, __file__, "--follow", *paths, "--seconds", str(seconds)],
            capture_output=True,
            check=True,
        )
        res = json.loads(out.stdout)
        pct = 100 * res["cpu_s"] / res["wall_s"]
        print(
            f"{label}: {pct:.2f} % of one core ({res['cpu_s']:.2f} s CPU in "
            f"{res['wall_s']:.1f} s; readings {res['readings']})"
        )
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--follow", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.follow is not None:
        follow([tuple(x.split("=", 1)) for x in args.follow], args.seconds)  # type: ignore[misc]
        return
    print(
        f"# capleak driver benchmarks: {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    throughput(args.frames)
    print("## CPU of the following process (DeviceLink + decoder, getrusage user+system)")
    measure(
        f"1 Hz Masimo + 75 frames/s Nonin over ptys, {args.seconds:g} s",
        [["--port", "pty"], ["--port", "pty"]],
        ["masimo-ascii", "nonin-df2"],
        args.seconds,
    )
    measure(
        f"one idle device (silent pty), {args.idle_seconds:g} s",
        [["--port", "pty", "--silence", "0s+1d"]],
        ["masimo-ascii"],
        args.idle_seconds,
    )


if __name__ == "__main__":
    main()
