"""Agent benchmarks (``scripts/bench-agent``): latency, CPU and memory, soak, start-up.

Real parts as in the HIL tests: the agent is ``capleak run`` in its own
process, devices are simulators on ptys, the broker is a real mosquitto, the
subscriber a real paho client. Prints figures; ``docs/benchmarks.md`` ("Agent")
records them. Usage::

    scripts/bench-agent [latency|resources|soak|startup|all] [--soak-seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edge.clock import SharedScaledClock
from tests.hil.agent import (
    START,
    Agent,
    NotifySocket,
    SimProcess,
    masimo_line,
    simdev,
    write_config,
)
from tests.support import REPO, Collector, Mosquitto, Pty, wait_for

ROOT = "capleak/v1/s1/u1/b1"
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


# -- latency ----------------------------------------------------------------------------


def bench_latency(
    work: Path, n: int = 300, period: float = 0.1, batch_s: float = 0.0
) -> dict[str, float]:
    """Simulator's last byte of a frame -> the vitals message at a subscriber.

    ``batch_s`` is ``publish.vitals_batch_s`` (the default 1 s batching would
    dominate the figure; the alert path is not batched).
    """
    broker = Mosquitto(work / "lat-broker").start()
    pty = Pty()
    received: dict[str, float] = {}
    lock = threading.Lock()
    sub = Collector(broker.host, broker.port, f"{ROOT}/vitals")

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        t = time.time()
        for r in json.loads(msg.payload)["readings"]:
            if r["signal"] == "spo2":
                with lock:
                    received.setdefault(r["time"], t)

    sub.client.on_message = on_message
    cfg = write_config(
        work / "lat.toml",
        broker_url=broker.url,
        state_dir=work / "lat-state",
        devices=[{"id": "spo2", "driver": "masimo-ascii", "port": pty.path}],
        extra=f"[publish]\nvitals_batch_s = {batch_s}\n",
    )
    agent = Agent(cfg).start()
    sent: dict[str, float] = {}
    try:
        agent.wait_log("ready:")
        base = float(int(time.time())) - 10 * n  # unique whole-second frame times
        for i in range(n):
            t_frame = base + i
            pty.write(masimo_line(t_frame, 97, 70))
            sent[time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t_frame))] = time.time()
            time.sleep(period)
        wait_for(lambda: len(received) >= n * 0.98, 30, message="latency samples")
    finally:
        agent.close_gracefully()
        sub.close()
        broker.stop()
        pty.close()
    lat = [(received[k] - sent[k]) * 1000 for k in sent if k in received]
    return {
        "vitals_batch_s": batch_s,
        "samples": len(lat),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "max_ms": max(lat),
        "mean_ms": statistics.fmean(lat),
    }


# -- CPU and memory at real rates -------------------------------------------------------


def three_devices(
    work: Path,
    clock: SharedScaledClock,
    spo2_driver: str,
    periods: dict[str, float],
    scenario: str | None = None,
) -> tuple[list[SimProcess], list[dict]]:
    """Oximeter, NIBP monitor and scale; ``scenario`` (e.g. ``leak``) for all three."""
    course = {
        "spo2": (spo2_driver, scenario or "spo2=97,pulse=72,pi=4", periods.get("spo2", 0)),
        "nibp": ("accutorr", scenario or "sbp=122,map=92,dbp=76/15m", 0),
        "scale": ("ad-scale", scenario or "weight=72/1h", 0),
    }
    sims, devices = [], []
    for dev, (driver, scenario, period) in course.items():
        link = work / f"capleak-{dev}"
        sims.append(simdev(clock, driver, link, scenario, period))
        d: dict = {"id": dev, "driver": driver, "port": str(link)}
        if driver == "accutorr":
            d["poll_interval_s"] = periods.get("nibp_poll", 60.0)
        devices.append(d)
    for d in devices:
        wait_for(lambda d=d: os.path.exists(d["port"]), 10, message=f"{d['id']} pty")
    return sims, devices


def bench_resources(work: Path, seconds: float = 60.0, spo2_driver: str = "nonin-df2") -> dict:
    """Three devices at their real rates (speed 1) for ``seconds``: CPU % and RSS."""
    broker = Mosquitto(work / "res-broker").start()
    clock = SharedScaledClock(time.time(), 1.0, anchor=time.time())
    sims, devices = three_devices(work, clock, spo2_driver, {"nibp_poll": 60.0})
    cfg = write_config(
        work / "res.toml",
        broker_url=broker.url,
        state_dir=work / "res-state",
        devices=devices,
    )
    sub = Collector(broker.host, broker.port, f"{ROOT}/#")
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        assert agent.proc is not None
        pid = agent.proc.pid
        time.sleep(5)  # warm-up: imports done, first frames in
        cpu0, t0 = proc_cpu_s(pid), time.monotonic()
        peak = 0
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            peak = max(peak, proc_status(pid)["VmRSS"])
        cpu1, t1 = proc_cpu_s(pid), time.monotonic()
        st = proc_status(pid)
        vitals = len(sub.payloads("vitals"))
    finally:
        agent.close_gracefully()
        sub.close()
        for s in sims:
            s.stop()
        broker.stop()
    return {
        "devices": f"{spo2_driver} (SpO2), accutorr (NIBP, polled every 60 s), ad-scale",
        "seconds": round(t1 - t0, 1),
        "cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "rss_mb": round(st["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "threads": st["Threads"],
        "fds": st["fds"],
        "vitals_messages": vitals,
    }


# -- soak -------------------------------------------------------------------------------


def bench_soak(work: Path, days: float = 14.0, real_seconds: float = 150.0) -> dict:
    """``days`` simulated days at high speed: RSS, fds and threads must not grow.

    The patient is the builtin ``leak`` (two days of decline, then held), so alerts
    start and stay active: the alert book re-notifies the whole time.
    """
    broker = Mosquitto(work / "soak-broker").start()
    speed = days * 86400 / real_seconds
    clock = SharedScaledClock(START, speed, anchor=time.time() + 2.0)
    sims, devices = three_devices(
        work, clock, "masimo-ascii", {"spo2": 60.0, "nibp_poll": 300}, scenario="leak"
    )
    cfg = write_config(
        work / "soak.toml",
        broker_url=broker.url,
        state_dir=work / "soak-state",
        devices=devices,
        extra='[patient]\ndose_start = "2026-01-05T08:00:00Z"\n'
        "[publish]\nvitals_batch_s = 60\ntrends_interval_s = 3600\n",
    )
    sub = Collector(broker.host, broker.port, f"{ROOT}/alerts")
    agent = Agent(cfg, env={"CAPLEAK_CLOCK": clock.spec}).start()
    samples = []
    try:
        agent.wait_log("ready:")
        assert agent.proc is not None
        pid = agent.proc.pid
        while clock.now() < START + days * 86400:
            if agent.proc.poll() is not None:
                raise RuntimeError("agent died:\n" + agent.output[-3000:])
            samples.append((clock.now(), proc_status(pid)))
            time.sleep(2)
        cpu = proc_cpu_s(pid)
    finally:
        agent.close_gracefully()
        sub.close()
        for s in sims:
            s.stop()
        broker.stop()
    # Baseline after the first simulated day (imports, caches and windows filled).
    warm = next(s for t, s in samples if t >= START + 86400)
    last = samples[-1][1]
    return {
        "simulated_days": days,
        "speed": round(speed),
        "real_seconds": real_seconds,
        "rss_mb_day1": round(warm["VmRSS"] / 1024, 1),
        "rss_mb_end": round(last["VmRSS"] / 1024, 1),
        "rss_growth_mb": round((last["VmRSS"] - warm["VmRSS"]) / 1024, 2),
        "fds_day1_end": (warm["fds"], last["fds"]),
        "threads_day1_end": (warm["Threads"], last["Threads"]),
        "agent_cpu_s": round(cpu, 1),
        "alert_events": len(sub.payloads("alerts")),
        "errors_logged": sum("ERROR" in line for line in agent.lines),
    }


# -- start-up ---------------------------------------------------------------------------


def bench_startup(work: Path, runs: int = 5) -> dict:
    """Process start -> READY=1 (no devices, a local broker), and the slowest imports."""
    broker = Mosquitto(work / "start-broker").start()
    cfg = write_config(work / "start.toml", broker_url=broker.url, state_dir=work / "st-state")
    times = []
    try:
        for i in range(runs):
            notify = NotifySocket(work / f"notify{i}")
            t0 = time.monotonic()
            agent = Agent(cfg, env={"NOTIFY_SOCKET": notify.path}).start()
            wait_for(lambda n=notify: n.count("READY=1"), 30, interval=0.005, message="READY")
            times.append(time.monotonic() - t0)
            agent.close_gracefully()
            notify.close()
        # Which imports dominate: python -X importtime up to READY=1.
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "edge.cli", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(20)
    finally:
        broker.stop()
    imports = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) <= 2:  # top-level imports only
            imports.append((int(m.group(2)) / 1000, m.group(4)))
    imports.sort(reverse=True)
    return {
        "ready_s_median": round(statistics.median(times), 3),
        "ready_s_min_max": (round(min(times), 3), round(max(times), 3)),
        "top_imports_ms": [(name, round(ms, 1)) for ms, name in imports[:8]],
        "scipy_imported": any("scipy" in name for _, name in imports) or "scipy" in err,
        "numpy_imported": "numpy" in err,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench-agent")
    p.add_argument("what", nargs="*", default=["all"])
    p.add_argument("--seconds", type=float, default=60.0, help="resources: measuring time")
    p.add_argument("--soak-seconds", type=float, default=150.0, help="soak: real seconds")
    p.add_argument("--soak-days", type=float, default=14.0)
    args = p.parse_args(argv)
    what = set(args.what)
    if "all" in what:
        what = {"latency", "resources", "soak", "startup"}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    work = Path(tempfile.mkdtemp(prefix="capleak-bench-"))
    try:
        if "startup" in what:
            print("startup:", json.dumps(bench_startup(work)), flush=True)
        if "latency" in what:
            print("latency:", json.dumps(bench_latency(work)), flush=True)
        if "resources" in what:
            print("resources:", json.dumps(bench_resources(work, args.seconds)), flush=True)
        if "soak" in what:
            print(
                "soak:",
                json.dumps(bench_soak(work, args.soak_days, args.soak_seconds)),
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
