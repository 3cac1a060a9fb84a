"""Group commit (issue #16): one transaction per drain cycle, still stored before published.

Real parts: real SQLite files, a real mosquitto, the publishing agent as a real
subprocess killed with SIGKILL, SQLite errors raised by SQLite itself (a trigger, as
``test_outbox.py`` injects them).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from edge.messaging.outbox import Message, Outbox, Outgoing
from edge.messaging.publisher import Publisher
from edge.vocabulary import Reading
from tests.edge.messaging.support import bed_config
from tests.edge.messaging.test_delivery import (
    KEEP_USER,
    check_delivery,
    durable_collector,
    wait_all_seqs,
)
from tests.support import REPO, Collector, Mosquitto, wait_for

T0 = 1_767_225_600.0


class CountingOutbox(Outbox):
    """A real outbox that records the size of every transaction ``put_many`` commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits: list[int] = []

    def put_many(
        self,
        items: Iterable[Outgoing],
        state: Mapping[str, Any] | None = None,
        *,
        delete: Iterable[int] = (),
    ) -> list[Message]:
        out = super().put_many(items, state, delete=delete)
        self.commits.append(len(out))
        return out


def data_seqs(col: Collector) -> list[int]:
    with col._lock:
        msgs = list(col.messages)
    return [json.loads(m.payload)["seq"] for m in msgs if m.topic.endswith("/vitals")]


def test_what_one_drain_cycle_staged_is_one_transaction_published_only_after_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    col = Collector(mosquitto.host, mosquitto.port, "capleak/+/+/+/+/vitals")
    box = CountingOutbox(tmp_path / "outbox.sqlite3")
    pub = Publisher(cfg, box).start()
    try:
        assert pub.wait_connected(10)
        with pub._commit_lock:  # the pump's commit cannot start: readings only staged
            for i in range(50):
                pub.add_reading(Reading.of("pulse", 60 + i, time=T0 + i))
            time.sleep(0.3)  # the pump went round meanwhile
            assert box.depth() == 0 and col.messages == []  # nothing left before its commit
            assert not pub._idle()
        wait_for(lambda: len(data_seqs(col)) == 50, 10, message="50 vitals")
        assert pub.wait_idle(10)
    finally:
        pub.stop()
        box.close()
        col.close()
    assert 50 in box.commits  # the 50 messages of that cycle: one transaction, one fsync
    first = box.commits.index(50)
    assert sum(box.commits[:first]) == 0  # no vitals stored before it
    assert data_seqs(col) == sorted(data_seqs(col))
    values = [json.loads(m.payload)["readings"][0]["value"] for m in col.messages]
    assert values == list(range(60, 110))  # one message per reading, in the order added


def test_put_many_deletes_and_inserts_in_one_transaction(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put_many([Outgoing("t/alerts", {"i": i}, "alert") for i in range(3)])  # 1..3
    box._db.execute(
        "CREATE TEMP TRIGGER no_put BEFORE INSERT ON main.outbox WHEN NEW.seq = 5 "
        "BEGIN SELECT RAISE(ABORT, 'injected no_put'); END"
    )
    with pytest.raises(sqlite3.Error, match="injected"):
        box.put_many([Outgoing("t/vitals", {"i": i}, "vitals") for i in range(2)], delete=[1, 2])
    # all or nothing: the acknowledged rows are still there, no new row, no seq used
    assert [m.seq for m in box.pending()] == [1, 2, 3] and box.depth() == 3
    assert box.last_seq == 3 and not box._db.in_transaction
    box._db.execute("DROP TRIGGER temp.no_put")
    got = box.put_many([Outgoing("t/vitals", {"i": 9}, "vitals")], delete=[1, 2])
    assert [m.seq for m in got] == [4]
    assert [m.seq for m in box.pending()] == [3, 4] and box.depth() == 2
    box.close()
    assert [m.seq for m in Outbox(tmp_path / "o.sqlite3").pending()] == [3, 4]


def test_a_failed_group_commit_is_a_storage_error_and_loses_nothing_stored(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A real SQLite error from the 5th message of a 10-message group commit."""
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    col = Collector(mosquitto.host, mosquitto.port, "capleak/#")
    box = Outbox.in_dir(cfg.storage.state_dir)
    pub = Publisher(cfg, box).start()
    try:
        assert pub.wait_connected(10)
        pub.enqueue([Outgoing(pub.topic("alerts/active"), {"alerts": []}, "alert", retain=True)])
        for i in range(5):
            pub.add_reading(Reading.of("pulse", 70 + i, time=T0 + i))
        assert pub.wait_idle(10)
        before = box.last_seq
        with pub._commit_lock:
            for i in range(10):
                pub.add_reading(Reading.of("pulse", 80 + i, time=T0 + 10 + i))
            box._db.execute(
                f"CREATE TEMP TRIGGER no_put BEFORE INSERT ON main.outbox "
                f"WHEN NEW.seq = {before + 5} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            )
        wait_for(lambda: pub.status()["errors"].get("storage") == 1, 10, message="the error")
        status = pub.status()
        assert status["dropped"] == {"vitals": 10}  # counted, as flush() always did
        assert box.last_seq == before and box.depth() == 0  # nothing of it, no seq taken
        box._db.execute("DROP TRIGGER temp.no_put")
        for i in range(3):
            pub.add_reading(Reading.of("pulse", 90 + i, time=T0 + 40 + i))
        assert pub.wait_idle(10)  # the acknowledged rows were deleted after all
        wait_for(lambda: len(data_seqs(col)) == 8, 10, message="8 vitals")
        assert pub.status()["errors"]["storage"] == 1 and box.depth() == 0
    finally:
        pub.stop()
        box.close()
        col.close()
    vitals = [json.loads(m.payload) for m in col.messages if m.topic.endswith("/vitals")]
    assert [v["readings"][0]["value"] for v in vitals] == [70, 71, 72, 73, 74, 90, 91, 92]
    assert [v["seq"] for v in vitals][-3:] == [before + 1, before + 2, before + 3]  # no gap


def test_an_enqueue_takes_the_staged_vitals_along_in_call_order(tmp_path: Path) -> None:
    cfg = bed_config("mqtt://127.0.0.1:9", tmp_path / "state")
    with Outbox.in_dir(cfg.storage.state_dir) as box:
        pub = Publisher(cfg, box)  # never started: no pump, what is staged stays staged
        alert = Outgoing(pub.topic("alerts"), {"alert": {}}, "alert")
        pub.add_reading(Reading.of("pulse", 70, time=T0))
        pub.add_reading(Reading.of("pulse", 71, time=T0 + 1))
        assert box.depth() == 0
        pub.enqueue([alert])
        kinds = [(m.seq, m.kind) for m in box.pending()]
        assert kinds == [(1, "vitals"), (2, "vitals"), (3, "alert")]
        box._db.execute(
            "CREATE TEMP TRIGGER no_put BEFORE INSERT ON main.outbox WHEN NEW.kind = 'alert' "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
        pub.add_reading(Reading.of("pulse", 72, time=T0 + 2))
        with pytest.raises(sqlite3.Error, match="injected fault"):
            pub.enqueue([alert])  # the caller sees the storage error (the dispatcher holds it)
        assert pub.status()["errors"]["storage"] == 1  # one transaction, one error
        assert pub.status()["dropped"] == {"vitals": 1}  # the staged reading, counted
        assert box.depth() == 3 and box.last_seq == 3
        box._db.execute("DROP TRIGGER temp.no_put")
        pub.enqueue([alert])
        assert [m.seq for m in box.pending()] == [1, 2, 3, 4]  # no seq lost to the failure


def stored_rows(state: Path) -> tuple[dict[int, str], int]:
    """seq -> msg_id of the rows in the outbox, and the last seq committed (a plain
    SQLite connection: what a restart finds)."""
    con = sqlite3.connect(state / "outbox.sqlite3")
    try:
        (next_seq,) = con.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        return dict(con.execute("SELECT seq, msg_id FROM outbox").fetchall()), int(next_seq) - 1
    finally:
        con.close()


def test_agent_killed_during_group_commits_then_restarted(
    mosquitto_factory, tmp_path: Path
) -> None:
    """kill -9 of an agent streaming unbatched readings: every stored row is delivered,
    in seq order, with no gap, and no published seq is ever handed out again."""
    broker = mosquitto_factory(KEEP_USER)
    state, n = tmp_path / "state", 3000
    col = durable_collector(broker)
    cmd = [sys.executable, "-m", "tests.edge.messaging.stream_agent", broker.url, str(state)]
    cmd += [str(n), "--readings", "--batch", "20", "--pause", "0.005"]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(data_seqs(col)) > n // 3, 60, message="a third of the stream")
        first.kill()
        first.wait(10)
        stored, committed = stored_rows(state)  # committed before the kill, not acknowledged
        time.sleep(0.5)  # what the killed agent handed over reaches the subscriber
        published = max(json.loads(m.payload)["seq"] for m in list(col.messages))
        assert published <= committed, f"seq {published} published, {committed} committed"
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        with Outbox.in_dir(state) as box:
            last = box.last_seq
            assert box.depth() == 0 and "seq_reset" not in box.faults
        wait_all_seqs(col, last)
    finally:
        if first.poll() is None:
            first.kill()
        col.close()
    per_topic, _ = check_delivery(col, last)  # every seq, each topic in seq order, no gap
    (vitals,) = [seqs for topic, seqs in per_topic.items() if topic.endswith("/vitals")]
    assert vitals == sorted(vitals) and len(vitals) >= n - 10
    ids: dict[int, set[str]] = {}
    for m in col.messages:
        body = json.loads(m.payload)
        if not body.get("will"):
            ids.setdefault(body["seq"], set()).add(body["msg_id"])
    # a message published before its commit would see its seq handed out again
    assert all(len(v) == 1 for v in ids.values()), "a seq was published twice"
    assert stored, "the kill came after everything was acknowledged"
    for seq, msg_id in stored.items():  # the stored rows themselves were delivered
        assert ids[seq] == {msg_id}
    assert max(stored) < n, "the agent finished before it was killed"


def test_every_row_handed_to_paho_is_already_committed(mosquitto: Mosquitto, tmp_path) -> None:
    """At each ``publish()`` a second SQLite connection (what a restart would read)
    already sees the message's ``seq`` committed. (A kill lands in a narrow window; this
    looks at every message: a deliberately broken pump that published from an open
    transaction failed it 15 times in 2,000 while the kill test still passed.)"""
    cfg = bed_config(mosquitto.url, tmp_path / "state")
    col = Collector(mosquitto.host, mosquitto.port, "capleak/+/+/+/+/vitals")
    box = Outbox.in_dir(cfg.storage.state_dir)
    pub = Publisher(cfg, box).start()
    early: list[tuple[int, int]] = []
    try:
        assert pub.wait_connected(10)
        client = pub._client
        assert client is not None
        publish = client.publish

        def checking_publish(topic, payload, *args, **kwargs):
            seq = json.loads(payload)["seq"]
            con = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3")
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
                next_seq = row[0]
            finally:
                con.close()
            if seq >= int(next_seq):
                early.append((seq, int(next_seq)))
            return publish(topic, payload, *args, **kwargs)

        client.publish = checking_publish  # type: ignore[method-assign]
        for i in range(1500):
            pub.add_reading(Reading.of("pulse", 60 + i % 60, time=T0 + i))
            if i % 20 == 0:
                time.sleep(0.005)  # arrivals in bursts, commits of various sizes
        assert pub.wait_idle(30)
        wait_for(lambda: len(data_seqs(col)) == 1500, 15, message="1500 vitals")
    finally:
        pub.stop()
        box.close()
        col.close()
    assert early == [], f"{len(early)} published before their commit, first {early[:3]}"
