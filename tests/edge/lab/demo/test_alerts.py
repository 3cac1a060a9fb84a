"""Alert events read from the agent's outbox (the demo's no-broker mode), and the doctests."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from edge.lab.demo.alerts import OutboxAlerts, Transitions, alert_from_message, format_alert
from edge.lab.demo.station import demo_stopped
from edge.messaging.alerts import AlertBook
from edge.messaging.outbox import Outbox
from edge.vocabulary import Alert

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


def test_a_latched_alert_is_shown_once_so_a_new_start_is_not_a_mystery() -> None:
    # The real alert book: hypotension starts, its condition ends (it latches), comes back.
    book = AlertBook(renotify_s=60)
    events = []
    for phase, t in (("start", 0.0), ("end", 600.0), ("start", 4000.0)):
        events += book.update(Alert("hypotension", "high", "physiological", phase, t, "SBP"))
    events += book.tick(700.0) + book.tick(800.0)  # re-notifications of the latched alert
    seen = [alert_from_message({"alert": e.to_dict()}) for e in events]
    transitions = Transitions()
    shown = [format_alert(a) for a in seen if a is not None and transitions.shown(a)]
    assert [line.split()[4] for line in shown][:2] == ["start", "latched"]
    assert sum("latched" in line.split()[4] for line in shown) == 1
    assert "stays until acknowledged" in shown[1]


def test_the_final_board_says_the_demo_took_the_bed_offline() -> None:
    board = "demo/ward/bed-1: OFFLINE (12 messages)\n  no active alerts"
    assert "the demo stopped the agent" in demo_stopped(board).splitlines()[0]
    assert demo_stopped("demo/ward/bed-1: ONLINE (3 messages)") == (
        "demo/ward/bed-1: ONLINE (3 messages)"
    )


@pytest.mark.parametrize(
    "name", ["edge.lab.demo.alerts", "edge.lab.demo.agent", "edge.lab.demo.station",
             "edge.station.model", "edge.cli.args", "edge.cli.demo", "edge.lab.demo.criteria"]
)  # fmt: skip
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
