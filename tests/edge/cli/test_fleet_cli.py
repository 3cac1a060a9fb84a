"""``capleak fleet``: usage errors, and a broker that never answers (nothing acknowledged:
exit 1, the outboxes kept). The fleet against real brokers: tests/edge/lab/test_fleet.py."""

from __future__ import annotations

import json
from pathlib import Path

from edge.messaging.outbox import Outbox
from tests.support import free_port, run_cli


def test_usage_errors_exit_2() -> None:
    for args, says in (
        (["--beds", "2", "--processes", "3"], b"--processes"),
        (["--beds", "0"], b"--beds"),
        (["--beds", "2", "--site", "a/b"], b"--site"),
        (["--beds", "2", "--speed", "100000000"], b"simulated days"),
    ):
        done = run_cli("fleet", "--broker", "mqtt://127.0.0.1:1", "--duration", "1", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)


def test_without_a_broker_nothing_is_acknowledged_and_everything_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "beds"
    done = run_cli(
        "fleet", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--beds", "2",
        "--duration", "3", "--drain", "1", "--state-dir", str(state), "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert not summary["ok"] and summary["acknowledged"] == 0
    assert summary["readings"] >= 2 * 4  # SpO2 and pulse at 1 Hz, 3 s, two beds
    assert b"outboxes are kept" in done.stderr and b"beds connected" in done.stderr
    for bed in summary["per_bed"]:
        name = bed["bed"].rsplit("/", 1)[1]
        with Outbox.in_dir(state / name) as ob:  # still there for the next start
            assert ob.depth() == bed["unacknowledged"] > 0
