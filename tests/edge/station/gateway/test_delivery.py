"""A sender whose store fails after the receiver's acknowledgement keeps going.

Real parts: the gateway's SQLite file, locked for writing by a second connection (as by
another process holding the write lock), and the MLLP receiver process. The store's busy
timeout is shortened so the delete fails within the test instead of after 30 s.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from edge.station.gateway import hl7v2
from edge.station.gateway.delivery import Backoff, Hl7Receiver, Sender
from edge.station.gateway.mllp import MllpLink
from edge.station.gateway.store import Store
from tests.edge.station.gateway.support import T0, MllpReceiver
from tests.edge.station.gateway.test_hl7v2 import ALERT, BED
from tests.support import wait_for


def test_a_failed_delete_resends_the_same_message_and_the_sender_survives(
    tmp_path: Path,
) -> None:
    receiver = MllpReceiver(tmp_path).start()
    store = Store(tmp_path / "gateway.sqlite3")
    store._db.execute("PRAGMA busy_timeout = 100")  # fail fast when locked (test only)
    for cid in ("c1", "c2"):
        with store.transaction() as tx:
            msg = hl7v2.pcd04(BED, ALERT, control_id=cid, now=T0)
            tx.enqueue("hl7", "alert", BED, cid, msg, T0)
    blocker = sqlite3.connect(tmp_path / "gateway.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: deletes fail
    stop, wake = threading.Event(), threading.Event()
    link = MllpLink("127.0.0.1", receiver.port, timeout=5, max_bytes=65536)
    sender = Sender(store, Hl7Receiver(link), Backoff(0.05, 0.2), stop, wake)
    sender.start()
    try:
        wait_for(lambda: sender.snapshot().get("store_errors", 0) >= 2, 15)
        assert sender.is_alive()
        assert {m["control_id"] for m in receiver.messages()} == {"c1"}  # c1 again, not c2
        blocker.execute("ROLLBACK")
        receiver.wait_for(2)
        wait_for(lambda: store.depth("hl7") == 0, 10)
    finally:
        stop.set()
        sender.join(10)
        blocker.close()
        store.close()
        receiver.stop()
    ids = [m["control_id"] for m in receiver.messages()]
    assert ids[-1] == "c2" and set(ids[:-1]) == {"c1"} and len(ids) >= 3
    counts = sender.snapshot()
    assert counts["delivered"] == 2 and counts["store_errors"] >= 2
