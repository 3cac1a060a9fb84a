"""Alert events read from the agent's outbox (the demo's no-broker mode), and the doctests."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from edge.lab.demo.alerts import OutboxAlerts, format_alert
from edge.messaging.outbox import Outbox

ROOT = "capleak/v1/demo/ward/bed-1"


def event(code: str, phase: str, time: str) -> dict:
    return {
        "alert": {
            "alert_id": f"{code}-1",
            "code": code,
            "priority": "high",
            "kind": "physiological",
            "phase": phase,
            "state": "active",
            "event_time": time,
            "since": time,
            "message": f"{code} {phase}",
            "values": {},
            "notifications": 1,
            "source": "nibp",
        }
    }


def test_outbox_alerts_are_read_in_seq_order_once_each(tmp_path: Path) -> None:
    reader = OutboxAlerts(tmp_path)
    assert reader.poll() == [], "no outbox yet: nothing, no error"
    with Outbox.in_dir(tmp_path) as box:
        box.put(f"{ROOT}/vitals", {"vitals": []}, kind="vitals")
        box.put(f"{ROOT}/alerts", event("hypotension", "start", "2026-01-06T22:58:18.916Z"),
                kind="alert")  # fmt: skip
        box.put(f"{ROOT}/alerts/active", {"alerts": []}, kind="alert", retain=True)
        box.put(f"{ROOT}/dose-check", {"dose_check": {"advice": "give"}}, kind="alert")
        first = reader.poll()
        assert [(a.code, a.phase, a.source) for a in first] == [("hypotension", "start", "nibp")]
        assert reader.poll() == [], "each event once"
        box.put(f"{ROOT}/alerts", event("hypotension", "end", "2026-01-07T02:00:00.000Z"),
                kind="alert")  # fmt: skip
        second = reader.poll()
    assert [a.phase for a in second] == ["end"]
    assert [a.phase for a in reader.seen] == ["start", "end"]
    line = format_alert(first[0])
    assert line.startswith("LOCAL   2026-01-06T22:58:18.916Z HIGH   hypotension")


@pytest.mark.parametrize("name", ["edge.lab.demo.alerts", "edge.lab.demo.agent"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
