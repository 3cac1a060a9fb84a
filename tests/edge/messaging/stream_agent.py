"""A small publishing agent for the delivery tests: ``python -m tests.edge.messaging.stream_agent``.

Publishes alternating ``alerts`` and ``vitals`` messages through the outbox in
``STATE_DIR`` until ``COUNT`` seqs have been handed out, ``BATCH`` per commit,
then waits until everything is acknowledged and exits 0. Started again on the
same state dir it carries on where the killed run stopped. Prints ``seq`` of
each committed batch so the test knows how far it got.

``--readings``: instead, ``BATCH`` readings per round through
``Publisher.add_reading`` with ``vitals_batch_s`` 0 (one ``vitals`` message each,
stored by the pump's group commit), until ``COUNT`` seqs were committed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from edge.messaging.outbox import Outbox, Outgoing
from edge.messaging.publisher import Publisher
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("state_dir")
    p.add_argument("count", type=int)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--pause", type=float, default=0.005)
    p.add_argument("--readings", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = bed_config(args.url, args.state_dir)
    box = Outbox.in_dir(args.state_dir)
    pub = Publisher(cfg, box, reconnect_delay=(0.1, 1.0)).start()
    i = box.last_seq
    while args.readings and box.last_seq < args.count:
        for _ in range(args.batch):
            i += 1
            pub.add_reading(Reading.of("pulse", 60 + i % 60, time=1_767_225_600 + i))
        time.sleep(args.pause)
    while box.last_seq < args.count:
        items = []
        for _ in range(min(args.batch, args.count - box.last_seq)):
            i += 1
            name = "alerts" if i % 2 else "vitals"
            items.append(
                Outgoing(pub.topic(f"test/{name}"), {"i": i}, "alert" if i % 2 else "vitals")
            )
        pub.enqueue(items)
        print(box.last_seq, flush=True)
        time.sleep(args.pause)
    ok = pub.wait_idle(60)
    pub.stop()
    print("done" if ok else "not drained", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
