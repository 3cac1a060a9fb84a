"""Outbox: real SQLite files, reopened as after a restart."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from edge.clock import ManualClock
from edge.messaging.outbox import Outbox, Outgoing


def body(i: int) -> dict:
    return {"readings": [], "i": i}


def test_messages_come_back_in_order_and_leave_only_when_deleted(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", clock=ManualClock(1_767_225_600))
    msgs = [box.put("t/vitals", body(i), kind="vitals") for i in range(5)]
    assert [m.seq for m in msgs] == [1, 2, 3, 4, 5]
    assert len({m.msg_id for m in msgs}) == 5
    first = json.loads(msgs[0].payload)
    assert first == {"msg_id": msgs[0].msg_id, "seq": 1, "time": "2026-01-01T00:00:00.000Z"} | body(
        0
    )
    assert [m.seq for m in box.pending()] == [1, 2, 3, 4, 5]
    assert [m.seq for m in box.pending(after_seq=3)] == [4, 5]
    assert box.delete([2, 4]) == 2
    assert [m.seq for m in box.pending()] == [1, 3, 5]
    assert box.depth() == 3
    assert box.delete([2]) == 0


def test_wal_and_full_synchronous(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_seq_and_pending_survive_a_reopen(tmp_path) -> None:
    with Outbox.in_dir(tmp_path / "state") as box:
        box.put_many([Outgoing("t/alerts", body(i), "alert") for i in range(3)])
        box.delete([1])
        assert box.allocate_seq() == 4
        box.set_state("alert_book", [{"x": 1}])
    with Outbox.in_dir(tmp_path / "state") as box:
        assert [m.seq for m in box.pending()] == [2, 3]
        assert box.depth() == 2
        assert box.put("t/alerts", body(9), kind="alert").seq == 5
        assert box.last_seq == 5
        assert box.get_state("alert_book") == [{"x": 1}]


def test_full_outbox_drops_oldest_vitals_then_trends_never_alerts(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_messages=4)
    box.put("t/alerts", body(0), kind="alert")  # 1
    box.put("t/vitals", body(1), kind="vitals")  # 2
    box.put("t/trends", body(2), kind="trends")  # 3
    box.put("t/vitals", body(3), kind="vitals")  # 4
    box.put("t/alerts", body(4), kind="alert")  # 5 -> drops vitals 2
    assert [m.seq for m in box.pending()] == [1, 3, 4, 5]
    box.put("t/alerts", body(5), kind="alert")  # 6 -> drops vitals 4
    box.put("t/alerts", body(6), kind="alert")  # 7 -> drops trends 3
    box.put("t/alerts", body(7), kind="alert")  # 8 -> nothing droppable: kept
    assert [m.kind for m in box.pending()] == ["alert"] * 5
    assert box.drops() == {"vitals": 2, "trends": 1}
    box.close()
    assert Outbox(tmp_path / "o.sqlite3", max_messages=4).drops() == {"vitals": 2, "trends": 1}


def test_unknown_kind_is_refused_and_nothing_is_stored(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    try:
        box.put_many([Outgoing("t", {}, "vitals"), Outgoing("t", {}, "gossip")])
    except ValueError as e:
        assert "gossip" in str(e)
    else:
        raise AssertionError("accepted an unknown kind")
    assert box.depth() == 0 and box.last_seq == 0


def test_committed_messages_survive_kill_9_of_the_writer(tmp_path) -> None:
    path = tmp_path / "o.sqlite3"
    script = textwrap.dedent(
        f"""
        import sys
        from edge.messaging.outbox import Outbox
        box = Outbox({str(path)!r})
        i = 0
        while True:
            m = box.put("t/alerts", {{"i": i}}, kind="alert")
            print(m.seq, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    printed = [int(proc.stdout.readline()) for _ in range(200)]
    proc.kill()
    proc.wait()
    seqs = [m.seq for m in Outbox(path).pending(limit=1_000_000)]
    # every message reported as committed is there, with no hole in the sequence
    assert set(printed) <= set(seqs)
    assert seqs == list(range(1, len(seqs) + 1))
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _fail_once(box: Outbox, name: str, when: str, action: str = "ABORT") -> None:
    """A real SQLite error from inside the next matching statement, on the box's connection."""
    box._db.execute(
        f"CREATE TEMP TRIGGER {name} {when} BEGIN SELECT RAISE({action}, 'injected {name}'); END"
    )


def _heal(box: Outbox, name: str) -> None:
    box._db.execute(f"DROP TRIGGER temp.{name}")


@pytest.mark.parametrize("action", ["ABORT", "FAIL", "ROLLBACK"])
def test_one_sqlite_error_never_leaves_a_transaction_open(tmp_path, action) -> None:
    """Issue 13 item 3: after one failed delete / allocate_seq / put, the next ones work."""
    box = Outbox(tmp_path / "o.sqlite3")
    box.put_many([Outgoing("t/alerts", body(i), "alert") for i in range(3)])  # 1..3

    _fail_once(box, "no_delete", "BEFORE DELETE ON main.outbox", action)
    with pytest.raises(sqlite3.Error, match="injected no_delete"):
        box.delete([1])
    _heal(box, "no_delete")
    assert not box._db.in_transaction
    assert box.depth() == 3
    assert box.delete([1]) == 1

    _fail_once(box, "no_seq", "BEFORE UPDATE ON main.meta", action)
    with pytest.raises(sqlite3.Error, match="injected no_seq"):
        box.allocate_seq()
    _heal(box, "no_seq")
    assert not box._db.in_transaction
    assert box.allocate_seq() == 4  # the failed call took nothing

    _fail_once(box, "no_put", "BEFORE INSERT ON main.outbox WHEN NEW.seq = 6", action)
    with pytest.raises(sqlite3.Error, match="injected no_put"):
        box.put_many([Outgoing("t/alerts", body(i), "alert") for i in range(2)])  # 5, 6
    _heal(box, "no_put")
    assert not box._db.in_transaction
    assert [m.seq for m in box.pending()] == [2, 3]  # all or nothing: 5 not kept
    assert box.put("t/alerts", body(9), kind="alert").seq == 5
    assert box.depth() == 3

    _fail_once(box, "no_state", "BEFORE INSERT ON main.meta", action)
    with pytest.raises(sqlite3.Error, match="injected no_state"):
        box.set_state("x", 1)
    _heal(box, "no_state")
    box.set_state("x", 2)
    assert box.get_state("x") == 2
    assert box.delete([2, 3, 5]) == 3 and box.depth() == 0
    box.close()
    assert [m.seq for m in Outbox(tmp_path / "o.sqlite3").pending()] == []


def test_state_and_messages_commit_together(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put_many([Outgoing("t/alerts", body(0), "alert")], state={"alert_book": [1]})
    assert box.get_state("alert_book") == [1]
    _fail_once(box, "no_put", "BEFORE INSERT ON main.outbox")
    with pytest.raises(sqlite3.Error):
        box.put_many([Outgoing("t/alerts", body(1), "alert")], state={"alert_book": [1, 2]})
    _heal(box, "no_put")
    assert box.get_state("alert_book") == [1] and box.depth() == 1


def test_dead_letter_moves_a_row_aside_and_counts_it(tmp_path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.put_many([Outgoing(f"t/{i}", body(i), "alert") for i in range(3)])
    assert box.dead_letter(2, "invalid topic") is True
    assert box.dead_letter(2, "again") is False
    assert [m.seq for m in box.pending()] == [1, 3] and box.depth() == 2
    assert box.dead_letters() == 1
    box.close()
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.dead_letters() == 1
    row = box._db.execute("SELECT seq, topic, reason FROM dead_letter").fetchall()
    assert row == [(2, "t/1", "invalid topic")]


def test_reserve_ahead_renews_the_seq_file_before_a_commit_needs_it(tmp_path) -> None:
    from edge.messaging.outbox import SeqFile

    seq = SeqFile(tmp_path / "state" / "seq")
    with Outbox.in_dir(tmp_path / "state", seq_reserve=10) as box:
        assert (seq.read().base, seq.read().limit) == (1, 11)
        box.put_many([Outgoing("t/vitals", body(i), "vitals") for i in range(4)])  # 1..4
        box.reserve_ahead()  # 6 of 10 left: nothing to do
        assert seq.read().limit == 11
        box.put_many([Outgoing("t/vitals", body(i), "vitals") for i in range(2)])  # 5, 6
        box.reserve_ahead()  # 4 left: renewed from the committed seq
        assert (seq.read().base, seq.read().limit) == (7, 22)
        assert [m.seq for m in box.put_many([Outgoing("t/alerts", body(9), "alert")])] == [7]
    assert (seq.read().base, seq.read().limit) == (8, 8)  # exact on close, as before
    with Outbox.in_dir(tmp_path / "state", seq_reserve=10) as box:
        assert box.put("t/alerts", body(0), kind="alert").seq == 8 and not box.faults
