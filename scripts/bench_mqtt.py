"""Messaging benchmark (figures, not a timed test); run through ``scripts/bench-mqtt``.

In one run against one real mosquitto on loopback:

1. latency from a Reading entering the publisher (``Publisher.add_reading``, no
   batching) to its arrival at a subscriber, p50/p99, one reading every ``--gap`` s;
2. the same for a bare paho client publishing a payload of the same size at QoS 1
   (no outbox, no fsync): the floor, reported with the ratio;
3. throughput: readings pushed as fast as possible, unbatched (one message and one
   fsync'd commit each) and batched (``vitals_batch_s`` 1 s), and raw paho QoS 1;
4. the outbox commit alone with ``synchronous=FULL`` and ``NORMAL``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.messaging.outbox import Outbox
from edge.messaging.publisher import Publisher
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config
from tests.support import Mosquitto, wait_for


class Sub:
    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.arrivals: dict[int, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{topic[-6:]}")
        self.c.on_connect = lambda c, *a: c.subscribe(topic, 1)
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = self.on_message
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert ready.wait(10)

    def on_message(self, c, u, msg) -> None:
        now = time.perf_counter()
        body = json.loads(msg.payload)
        with self.lock:
            if "readings" in body:
                for r in body["readings"]:
                    self.arrivals.setdefault(int(r["value"]), now)
                    self.count += 1
            else:
                self.arrivals.setdefault(int(body["i"]), now)
                self.count += 1

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def reading(i: int) -> Reading:
    return Reading.of("weight", float(i), time=1_767_225_600 + i, source="bench")


def bench_capleak(broker: Mosquitto, tmp: Path, n: int, gap: float, batch_s: float, paced: bool):
    cfg = bed_config(
        broker.url, tmp / f"state-{batch_s}-{paced}", publish={"vitals_batch_s": batch_s}
    )
    sub = Sub(broker, f"{cfg.topic_root}/vitals")
    box = Outbox.in_dir(cfg.storage.state_dir)
    pub = Publisher(cfg, box).start()
    assert pub.wait_connected(10)
    sent: dict[int, float] = {}
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        sent[i] = time.perf_counter()
        pub.add_reading(reading(i))
        if paced:
            time.sleep(gap)
    wait_for(lambda: sub.count >= n, 300, message="all readings")
    elapsed = time.perf_counter() - t0
    pub.stop()
    box.close()
    sub.close()
    lat = [sub.arrivals[i] - sent[i] for i in sent]
    return lat, n / elapsed


def bench_raw(broker: Mosquitto, n: int, gap: float, paced: bool):
    topic = "bench/raw"
    sub = Sub(broker, topic)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw")
    c.max_inflight_messages_set(20)
    c.connect(broker.host, broker.port)
    c.loop_start()
    pad = json.dumps(
        {"msg_id": "0" * 36, "seq": 1, "time": "2026-01-01T00:00:00.000Z",
         "readings": [reading(1).to_dict()]}
    )  # fmt: skip
    sent: dict[int, float] = {}
    t0 = time.perf_counter()
    infos = []
    for i in range(1, n + 1):
        sent[i] = time.perf_counter()
        infos.append(c.publish(topic, json.dumps({"i": i, "pad": pad}), qos=1))
        if paced:
            time.sleep(gap)
        elif len(infos) >= 20:  # same window as the publisher
            infos.pop(0).wait_for_publish(10)
    wait_for(lambda: sub.count >= n, 300, message="all raw messages")
    elapsed = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    sub.close()
    return [sub.arrivals[i] - sent[i] for i in sent], n / elapsed


def bench_outbox(tmp: Path, n: int) -> dict[str, float]:
    out = {}
    for mode in ("FULL", "NORMAL"):
        box = Outbox(tmp / f"outbox-{mode}.sqlite3")
        box._db.execute(f"PRAGMA synchronous={mode}")
        t = time.perf_counter()
        for i in range(n):
            box.put("t/vitals", {"readings": [reading(i).to_dict()]}, kind="vitals")
        out[mode] = n / (time.perf_counter() - t)
        box.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency-n", type=int, default=500, help="paced readings for latency")
    ap.add_argument("--gap", type=float, default=0.02, help="seconds between paced readings")
    ap.add_argument("--throughput-n", type=int, default=3000, help="readings for throughput")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as d:
        tmp = Path(d)
        broker = Mosquitto(tmp / "broker", "user root\n").start()
        try:
            cl, _ = bench_capleak(broker, tmp, args.latency_n, args.gap, 0.0, paced=True)
            rl, _ = bench_raw(broker, args.latency_n, args.gap, paced=True)
            _, c_tp = bench_capleak(broker, tmp, args.throughput_n, 0, 0.0, paced=False)
            _, b_tp = bench_capleak(broker, tmp, args.throughput_n * 10, 0, 1.0, paced=False)
            _, r_tp = bench_raw(broker, args.throughput_n, 0, paced=False)
            ob = bench_outbox(tmp, 500)
        finally:
            broker.kill()
            broker.stop()
    ms = 1000.0
    print(f"latency, Reading -> subscriber, {args.latency_n} readings every {args.gap * ms:g} ms:")
    print(f"  capleak publisher: p50 {pct(cl, .5) * ms:.2f} ms  p99 {pct(cl, .99) * ms:.2f} ms"
          f"  mean {statistics.fmean(cl) * ms:.2f} ms")  # fmt: skip
    print(f"  raw paho QoS 1:    p50 {pct(rl, .5) * ms:.2f} ms  p99 {pct(rl, .99) * ms:.2f} ms"
          f"  mean {statistics.fmean(rl) * ms:.2f} ms")  # fmt: skip
    print(f"  ratio capleak/raw: p50 {pct(cl, .5) / pct(rl, .5):.1f}x  "
          f"p99 {pct(cl, .99) / pct(rl, .99):.1f}x")  # fmt: skip
    print("throughput:")
    print(f"  capleak, one message per reading: {c_tp:,.0f} readings/s")
    print(f"  capleak, 1 s vitals batches:      {b_tp:,.0f} readings/s")
    print(f"  raw paho QoS 1, window 20:        {r_tp:,.0f} messages/s "
          f"(capleak unbatched = {c_tp / r_tp:.2f}x)")  # fmt: skip
    print("outbox commit alone (one put = one transaction):")
    print(f"  synchronous=FULL {ob['FULL']:,.0f}/s   NORMAL {ob['NORMAL']:,.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
