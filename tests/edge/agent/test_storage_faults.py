"""Storage faults (issue 13 item 10): exit 78 that says why, and no silent reset of ``seq``.

Real parts: SQLite files damaged the way disks and people damage them (an immutable
file via ``chattr +i``, since the tests run as root and ``chmod`` does not stop root;
a truncated file; a zero-length file; a WAL with a damaged header), ``capleak run``
subprocesses and a real mosquitto with a real subscriber.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.messaging.outbox import SEQ_FILE, Outbox, Outgoing
from tests.edge.messaging.support import validate
from tests.hil.agent import Agent, write_config
from tests.support import Collector, Mosquitto, run_cli, wait_for

ROOT = "capleak/v1/s1/u1/b1"


def text(r: subprocess.CompletedProcess[bytes]) -> str:
    """stderr with the paragraph's line wrapping undone."""
    return " ".join(r.stderr.decode().split())


def run_once(cfg: Path) -> None:
    """A clean run of the agent: an outbox, a seq file, a few messages."""
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        assert agent.terminate() == 0, agent.output
    finally:
        agent.close()


def retained_status(broker: Mosquitto) -> dict:
    """What a station subscribing now gets: the retained status."""
    sub = Collector(broker.host, broker.port, f"{ROOT}/status")
    try:
        return wait_for(lambda: sub.payloads("status")[-1:], 10, message="retained status")[0]
    finally:
        sub.close()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: not even root may write it (skips where the filesystem cannot)."""
    if not shutil.which("chattr"):
        pytest.skip("no chattr")
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {r.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_outbox_exits_78_naming_the_key_and_the_status_says_why(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    state = tmp_path / "st"
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=state)
    run_once(cfg)
    with immutable(state / "outbox.sqlite3"):
        r = run_cli("run", "--config", str(cfg), timeout=60)
    assert r.returncode == 78, r.stderr
    assert "storage.state_dir" in text(r) and "readonly" in text(r)
    assert "Traceback" not in text(r)
    status = retained_status(mosquitto)
    assert status["state"] == "offline" and "storage.state_dir" in status["reason"]
    assert "storage" in status["faults"] and not status.get("will")
    validate(f"{ROOT}/status", json.dumps(status).encode())


def test_a_truncated_outbox_exits_78_and_the_status_says_why(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    state = tmp_path / "st"
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=state)
    with Outbox.in_dir(state) as box:  # a backlog: the broker was away for a while
        box.put_many([Outgoing(f"{ROOT}/vitals", {"readings": [], "pad": "x" * 300}, "vitals")
                      for _ in range(3000)])  # fmt: skip
    db = state / "outbox.sqlite3"
    os.truncate(db, db.stat().st_size // 2)
    r = run_cli("run", "--config", str(cfg), timeout=60)
    assert r.returncode == 78, r.stderr
    assert "storage.state_dir" in text(r) and "malformed" in text(r)
    assert "Traceback" not in text(r)
    status = retained_status(mosquitto)
    assert status["state"] == "offline" and "malformed" in status["reason"]
    assert status["seq"] == 3000, "the last seq handed out, as the Will would say"


def test_a_zero_length_outbox_goes_on_with_the_next_seq_and_raises_a_latched_agent_fault(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    state = tmp_path / "st"
    cfg = write_config(tmp_path / "c.toml", broker_url=mosquitto.url, state_dir=state)
    run_once(cfg)
    with Outbox.in_dir(state) as box:
        last = box.last_seq
    assert last >= 2
    (state / "outbox.sqlite3").write_bytes(b"")  # a power cut on a bad SD card
    for extra in state.glob("outbox.sqlite3-*"):
        extra.unlink()
    sub = Collector(mosquitto.host, mosquitto.port, f"{ROOT}/#")
    agent = Agent(cfg).start()
    try:
        agent.wait_log("ready:")
        alerts = wait_for(
            lambda: (
                got
                if len(
                    got := [
                        p["alert"]
                        for p in sub.payloads("alerts")
                        if p["alert"]["code"] == "agent_fault"
                    ]
                )
                >= 2
                else None
            ),
            10,
            message="agent_fault start and latch",
        )
        assert [(a["phase"], a["state"]) for a in alerts] == [
            ("start", "active"),
            ("update", "latched"),
        ]
        assert alerts[0]["source"] == "outbox" and "went back" in alerts[0]["message"]
        status = wait_for(
            lambda: [p for p in sub.payloads("status") if p["state"] == "online"][-1:], 10
        )[0]
        assert "seq_reset" in status["faults"]
        validate(f"{ROOT}/status", json.dumps(status).encode())
        live = [json.loads(m.payload) for m in list(sub.messages) if not m.retain]
        seqs = sorted(p["seq"] for p in live if not p.get("will"))
        assert seqs[0] == last + 1, "seq goes on where it was, never back to 1"
        assert agent.terminate() == 0
    finally:
        agent.close()
        sub.close()
    assert "seq went back" in agent.output


def crash_copy(state: Path, to: Path) -> None:
    """The files as a power cut leaves them: the database, its WAL and the seq file."""
    to.mkdir()
    for f in state.iterdir():
        if (
            f.name.startswith("outbox.sqlite3") and not f.name.endswith("-shm")
        ) or f.name == SEQ_FILE:
            shutil.copy(f, to / f.name)


def test_a_damaged_wal_header_never_hands_out_a_seq_twice(tmp_path: Path) -> None:
    state = tmp_path / "st"
    box = Outbox.in_dir(state, seq_reserve=10)
    msgs = [box.put("t/alerts", {"i": i}, kind="alert") for i in range(25)]
    assert msgs[-1].seq == 25
    crashed = tmp_path / "crashed"
    crash_copy(state, crashed)
    box.close()
    wal = crashed / "outbox.sqlite3-wal"
    assert wal.stat().st_size > 32, "the commits are in the WAL"
    with wal.open("r+b") as f:
        f.write(b"\0" * 32)  # SQLite now ignores the whole WAL
    with Outbox.in_dir(crashed, seq_reserve=10) as again:
        assert "seq_reset" in again.faults
        assert "went back" in again.faults["seq_reset"]
        assert again.put("t/alerts", {"i": 99}, kind="alert").seq > 25


def test_commits_lost_behind_the_last_mark_are_a_reset_too(tmp_path: Path) -> None:
    """The database survives but went back past the seq file's mark (an old copy restored)."""
    state = tmp_path / "st"
    with Outbox.in_dir(state, seq_reserve=10) as box:
        box.put("t/alerts", {}, kind="alert")
    old = tmp_path / "old"
    shutil.copytree(state, old)
    with Outbox.in_dir(state, seq_reserve=10) as box:
        for _ in range(30):
            box.put("t/alerts", {}, kind="alert")
    shutil.copy(old / "outbox.sqlite3", state / "outbox.sqlite3")  # the backup of last week
    with Outbox.in_dir(state, seq_reserve=10) as box:
        assert "from 32 to 2" in box.faults["seq_reset"]
        assert box.put("t/alerts", {}, kind="alert").seq == 32


def test_a_crash_keeps_seq_contiguous_and_a_damaged_seq_file_is_reported(tmp_path: Path) -> None:
    state = tmp_path / "st"
    box = Outbox.in_dir(state, seq_reserve=10)
    box.put_many([Outgoing("t/alerts", {"i": i}, "alert") for i in range(25)])
    crashed = tmp_path / "crashed"
    crash_copy(state, crashed)  # intact WAL: nothing lost, so no reset and no gap
    box.close()
    with Outbox.in_dir(crashed, seq_reserve=10) as again:
        assert again.faults == {}
        assert again.put("t/alerts", {}, kind="alert").seq == 26
    (crashed / SEQ_FILE).write_text("{not json")
    with Outbox.in_dir(crashed) as again:
        assert "damaged" in again.faults["seq_file"]
        assert again.put("t/alerts", {}, kind="alert").seq == 27
    assert json.loads((crashed / SEQ_FILE).read_text())["base"] == 28  # rewritten on close
