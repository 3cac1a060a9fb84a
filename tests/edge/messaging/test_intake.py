"""The command intake: replay protection in SQLite, bounded queue, bounded replies."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from edge.clock import ManualClock
from edge.config import CommandsConfig
from edge.messaging.commands import Command
from edge.messaging.intake import CommandIntake, CommandLedger, Inbound
from edge.vocabulary import iso_time

ROOT = "capleak/v1/s1/u1/b1"
NOW = 1_767_225_600.0


class Bed:
    """An intake over a real SQLite ledger file, recording what it applies and answers."""

    def __init__(self, path: Path, clock: ManualClock, **limits: float) -> None:
        self.applied: list[Command] = []
        self.replies: list[tuple[str, dict]] = []
        self.ledger = CommandLedger.beside(path / "outbox.sqlite3", limits.get("window", 86400))
        cfg = {"replies_per_s": 10_000, **{k: v for k, v in limits.items() if k != "window"}}
        self.intake = CommandIntake(
            ROOT,
            CommandsConfig(**cfg),  # type: ignore[arg-type]
            handler=self.apply,
            reply=lambda topic, body, corr: self.replies.append((topic, body)),
            ledger=self.ledger,
            clock=clock,
        )

    def apply(self, cmd: Command) -> dict:
        self.applied.append(cmd)
        return {"n": len(self.applied)}

    def send(self, name: str, body: dict, retain: bool = False) -> dict:
        self.intake.handle(Inbound(f"{ROOT}/cmd/{name}", json.dumps(body).encode(), retain))
        return self.replies[-1][1]


def test_a_replayed_msg_id_is_answered_again_but_applied_once_also_after_a_restart(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock)
    first = bed.send("dose", {"msg_id": "d-1"})
    for i in range(300):  # more than the 256 the old in-memory map held
        bed.send("dose", {"msg_id": f"other-{i}"})
    assert bed.send("dose", {"msg_id": "d-1"}) == first
    assert len(bed.applied) == 301
    bed.ledger.close()
    clock.advance(3600)
    again = Bed(tmp_path, clock)  # a restart: a new ledger on the same file
    assert again.send("dose", {"msg_id": "d-1"}) == first
    assert again.applied == []
    assert (tmp_path / "outbox-commands.sqlite3").exists()


def test_the_replay_window_is_a_setting_and_old_ids_are_forgotten(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock, window=600)
    bed.send("dose", {"msg_id": "d-1"})
    clock.advance(601)
    bed.send("dose", {"msg_id": "d-2"})  # prunes what is older than the window
    assert len(bed.ledger) == 1
    bed.send("dose", {"msg_id": "d-1"})
    assert len(bed.applied) == 3


def test_a_stale_or_retained_command_is_refused_with_its_request_id(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock)
    old = bed.send("dose", {"msg_id": "d-1", "time": "2020-01-01T00:00:00Z"})
    assert old["ok"] is False and old["error"]["code"] == "refused"
    assert old["request_id"] == "d-1"
    kept = bed.send("dose", {"msg_id": "d-2", "time": iso_time(NOW - 5)}, retain=True)
    assert kept["error"]["code"] == "retained"
    assert bed.applied == []


def test_transient_failures_are_not_remembered(tmp_path: Path) -> None:
    from edge.messaging.commands import CommandError

    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock)
    busy = [True]

    def handler(cmd: Command) -> dict:
        if busy[0]:
            raise CommandError("busy", "try again")
        return {"done": True}

    bed.intake.handler = handler
    assert bed.send("dose", {"msg_id": "d-1"})["error"]["code"] == "busy"
    busy[0] = False
    assert bed.send("dose", {"msg_id": "d-1"})["ok"] is True


def test_a_full_queue_drops_without_blocking_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock, queue_size=4)
    gate = threading.Event()
    bed.intake.handler = lambda cmd: gate.wait(10) and {}
    bed.intake.start()
    try:
        msg = Inbound(f"{ROOT}/cmd/dose", b"{}", False)
        with caplog.at_level(logging.WARNING, "edge.messaging.intake"):
            taken = [bed.intake.offer(msg) for _ in range(1000)]
        # one in the handler (maybe), four waiting: everything else dropped at once
        assert 4 <= sum(taken) <= 5
        counters = bed.intake.counters()
        assert counters["commands_busy_dropped"] == 1000 - sum(taken)
        assert counters["commands_received"] == 1000
        lines = [r for r in caplog.records if "queue full" in r.getMessage()]
        assert len(lines) == 1  # rate-limited: one line, with the count
    finally:
        gate.set()
        bed.intake.stop()


def test_replies_are_rate_limited_and_refusal_logs_throttled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(NOW)
    bed = Bed(tmp_path, clock, replies_per_s=10)
    msg = Inbound(f"{ROOT}/cmd/ack", b'{"alert": 1}', False)
    with caplog.at_level(logging.WARNING, "edge.messaging.intake"):
        for _ in range(500):
            bed.intake.handle(msg)
    assert len(bed.replies) <= 20  # a burst of 10, and whatever time allowed meanwhile
    counters = bed.intake.counters()
    assert counters["command_replies_dropped"] == 500 - len(bed.replies)
    assert counters["commands_refused"] == 500
    assert len(caplog.records) <= 4
