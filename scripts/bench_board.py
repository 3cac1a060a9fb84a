"""Ward board benchmark (figures, not a timed test); run through ``scripts/bench-board``.

200 beds (``--beds``) each publish a ``vitals`` message every second (SpO2 and pulse;
an NIBP triple every ``--nibp-every`` s) with its own ``msg_id``/``seq`` to a real
mosquitto on loopback, for ``--seconds``. The real ``capleak board`` process
subscribes; one SSE client counts events. Reported: the board's CPU (% of one core,
from /proc utime+stime) and RSS at the end, events/s received by the SSE client,
messages/s published, and the time to first render of the page with every tile in
headless chromium (Playwright, when installed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.edge.station.board_support import BoardProcess
from tests.support import Mosquitto

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reading(signal: str, value: float, unit: str, t: float) -> dict:
    return {"signal": signal, "value": value, "unit": unit, "source": "bench", "flags": [],
            "mdc": 0, "mdc_refid": "X", "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            + f".{int(t % 1 * 1000):03d}Z"}  # fmt: skip


def publish(broker: Mosquitto, beds: int, seconds: float, nibp_every: int) -> int:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-beds")
    c.max_inflight_messages_set(1000)
    c.connect(broker.host, broker.port)
    c.loop_start()
    seq = [0] * beds
    sent = 0
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        now = time.time()
        for b in range(beds):
            rs = [
                reading("spo2", 95 + (n + b) % 4, "%", now),
                reading("pulse", 80 + b % 20, "/min", now),
            ]
            if (n + b) % nibp_every == 0:
                rs.append(reading("sbp", 110 + b % 15, "mm[Hg]", now))
                rs += [reading("dbp", 70, "mm[Hg]", now), reading("map", 83, "mm[Hg]", now)]
            seq[b] += 1
            body = {
                "msg_id": str(uuid.uuid4()),
                "seq": seq[b],
                "time": rs[0]["time"],
                "readings": rs,
            }
            c.publish(f"capleak/v1/bench/ward/bed-{b:03d}/vitals", json.dumps(body), qos=1)
            sent += 1
        n += 1
        time.sleep(max(0.0, start + n - time.monotonic()))
    c.loop_stop()
    c.disconnect()
    return sent


def sse_count(url: str, stop: threading.Event, counter: list[int]) -> None:
    with urllib.request.urlopen(url + "/api/events", timeout=30) as r:
        for line in r:
            if line.startswith(b"event: "):
                counter[0] += 1
            if stop.is_set():
                return


def first_render(url: str, beds: int) -> float | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p, tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        page = ctx.new_page()
        t0 = time.monotonic()
        page.goto(url + "/")
        page.locator(".tile").nth(beds - 1).wait_for()  # (the page's CSP forbids eval)
        took = time.monotonic() - t0
        ctx.close()
        return took


def full_history_mib(beds: int) -> float:
    """RSS growth of a Ward holding 72 h of 7 signals for ``beds`` beds (in-process)."""
    from edge.station.board.ward import Ward

    ward = Ward()
    st = ward.settings
    before = rss_mib(os.getpid())
    t0 = time.time() - st.history_hours * 3600
    n = int(st.history_hours * 3600 / st.bucket_s)
    for b in range(beds):
        bed = f"bench/ward/bed-{b:03d}"
        status = {"msg_id": f"s{b}", "seq": 0, "time": "2026-01-01T00:00:00Z", "state": "online"}
        ward.receive(f"capleak/v1/{bed}/status", json.dumps(status).encode())
        h = ward.history[bed]
        for i in range(n):  # one reading per bucket fills every bucket
            for s in ("sbp", "dbp", "map", "spo2", "pulse", "weight", "pi"):
                h.add(s, t0 + i * st.bucket_s, 90.0 + i % 7)
    return rss_mib(os.getpid()) - before


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--nibp-every", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as wd:
        broker = Mosquitto(Path(wd) / "broker").start()
        board = BoardProcess("--broker", broker.url, "--listen", "127.0.0.1:0")
        pid = board.proc.pid
        try:
            stop, counter = threading.Event(), [0]
            threading.Thread(target=sse_count, args=(board.url, stop, counter), daemon=True).start()
            time.sleep(1.0)
            c0, t0 = cpu_s(pid), time.monotonic()
            sent = publish(broker, args.beds, args.seconds, args.nibp_every)
            time.sleep(1.0)
            c1, t1 = cpu_s(pid), time.monotonic()
            events = counter[0]
            stop.set()
            render = first_render(board.url, args.beds)
            rss = rss_mib(pid)
            stats = json.loads(urllib.request.urlopen(board.url + "/api/stats").read())
        finally:
            board.stop()
            broker.stop()
    wall = t1 - t0
    print(f"beds {args.beds}, {args.seconds:g} s, one vitals message per bed per second")
    print(f"published       {sent} messages ({sent / args.seconds:.0f}/s)")
    print(f"board received  {stats['messages']} messages, {stats['duplicates']} duplicates")
    print(f"SSE events      {events} ({events / wall:.0f}/s)")
    print(f"board CPU       {100 * (c1 - c0) / wall:.0f} % of one core")
    print(f"board RSS       {rss:.0f} MiB at the end")
    print(f"full history    {full_history_mib(args.beds):.0f} MiB more RSS for 72 h of 7 signals"
          f" x {args.beds} beds (in-process Ward)")  # fmt: skip
    if render is not None:
        print(f"first render    {render * 1000:.0f} ms to {args.beds} tiles (headless chromium)")


if __name__ == "__main__":
    main()
