"""The fleet benchmark behind ``scripts/bench-fleet`` (docs/benchmarks.md, "Fleet").

One run: ``--beds`` virtual beds (``capleak fleet``, speed 1: SpO2 and pulse at 1 Hz per
bed) publish to a unit broker bridged to a central broker; two ``capleak station --share``
members read the central broker. Reported: messages published (the beds' seq ranges),
lost (no member got it), duplicates (a member saw it twice, or both members did),
latency p50/p99 from the outbox commit (the payload's ``time``: wall time at speed 1) to
the member's receipt, each broker's CPU (user+system over the run, % of one core) and
peak RSS, and the machine's load average.

Sweep: the same without the bridge (beds -> one broker -> two members) for each size
in ``--sweep``; the ceiling is the largest size whose p99 stays under 1 s. The beds,
the members and the brokers share this machine's cores: a p99 over 1 s can be the
fleet's own processes saturating the CPU, not the broker (the broker's CPU says which).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge.vocabulary import parse_time
from tests.edge.lab.fleet_support import (
    Relay,
    StationProc,
    bridge_conf,
    expected_seqs,
    probe_ready,
    run_fleet_cli,
)
from tests.support import Mosquitto

TICK = os.sysconf("SC_CLK_TCK")
#: The streams the members split (the retained kinds also reach every member plainly).
SPLIT_KINDS = ("vitals", "trends", "alerts")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def one_run(work: Path, beds: int, duration: float, bridged: bool) -> dict[str, Any]:
    brokers: list[Mosquitto] = []
    relay = None
    try:
        central = Mosquitto(work / "central").start()
        brokers.append(central)
        if bridged:
            relay = Relay(central.port)
            unit = Mosquitto(work / "unit", bridge_conf(relay.port)).start()
            brokers.append(unit)
        else:
            unit = central
        stations = [StationProc(central.url, "bench").start() for _ in range(2)]
        probe_ready(unit.url, stations, timeout=30)
        for s in stations:
            s.lines.clear()
        cpu0 = {b.proc.pid: cpu_s(b.proc.pid) for b in brokers if b.proc}
        t0 = time.monotonic()
        processes = max(1, min(8, beds // 60))
        summary = run_fleet_cli(
            unit.url, beds, duration, work / "beds", "--processes", str(processes),
            "--drain", "60", timeout=duration + 600,
        )  # fmt: skip
        expected = expected_seqs(summary)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if expected <= (stations[0].all_seqs() | stations[1].all_seqs()):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        cpu = {b.proc.pid: cpu_s(b.proc.pid) - cpu0[b.proc.pid] for b in brokers if b.proc}
        rss = {b.proc.pid: peak_rss_mb(b.proc.pid) for b in brokers if b.proc}
        for s in stations:
            s.stop()
        latencies = []
        per_member = []
        dup_in_member = 0
        for s in stations:
            n = 0
            for d in s.lines:
                body = d.get("payload") or {}
                if d.get("kind") not in SPLIT_KINDS:
                    continue
                if d.get("duplicate"):
                    dup_in_member += 1
                    continue
                if "time" in body:
                    latencies.append(d["_wall"] - parse_time(body["time"]))
                    n += 1
            per_member.append(n)
        a, b = (
            {(str(d["bed"]), d["payload"]["seq"]) for d in s.lines if d.get("kind") in SPLIT_KINDS}
            for s in stations
        )
        union = stations[0].all_seqs() | stations[1].all_seqs()
        names = ["central", "unit"]
        return {
            "beds": beds,
            "bridged": bridged,
            "duration_s": duration,
            "fleet_ok": summary["ok"],
            "published": len(expected),
            "lost": len(expected - union),
            "duplicates_within_member": dup_in_member,
            "duplicates_across_members": len(a & b),
            "per_member": per_member,
            "latency_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "latency_p99_ms": round(pct(latencies, 0.99) * 1000, 1),
            "latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "broker_cpu_pct": {
                names[i]: round(100 * c / elapsed, 1) for i, c in enumerate(cpu.values())
            },
            "broker_peak_rss_mb": {names[i]: round(r, 1) for i, r in enumerate(rss.values())},
            "load_avg": os.getloadavg(),
        }
    finally:
        if relay is not None:
            relay.close()
        for b in brokers:
            b.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beds", type=int, default=500)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--sweep", default="250,500,750,1000")
    p.add_argument("--sweep-duration", type=float, default=30)
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--no-main", action="store_true")
    args = p.parse_args()
    print(f"load before: {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="capleak-bench-fleet-") as tmp:
        if not args.no_main:
            r = one_run(Path(tmp) / "main", args.beds, args.duration, bridged=True)
            print(json.dumps(r), flush=True)
        if not args.no_sweep:
            ceiling = None
            for n in (int(x) for x in args.sweep.split(",")):
                r = one_run(Path(tmp) / f"sweep-{n}", n, args.sweep_duration, bridged=False)
                print(json.dumps(r), flush=True)
                if r["latency_p99_ms"] <= 1000 and r["lost"] == 0:
                    ceiling = n
                else:
                    break
            print(f"ceiling (p99 <= 1 s, nothing lost): {ceiling} beds", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
