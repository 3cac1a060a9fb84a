"""What a new user meets at the command line (issue 14): real ``capleak`` processes."""

from __future__ import annotations

import math
import re
import socket
import subprocess
import sys
import time

import pytest

from edge.cli.replay import DEFAULT_CONFIG
from edge.core import Core
from edge.core.replay import iter_replay, read_replay
from tests.support import free_port, run_cli

T0 = 1_767_225_600


# --- replay: a file with no usable row is bad data (65), said in one line --------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("\n# only a comment\n\n", "empty"),
        ("time,signal,value\n", "a header and no rows"),
        ("a,b,c\n1,2,3\n4,5,6\n", "lacks the columns time,signal,value"),
        ("time,signal,value\n1767225600,xx,1\n", "no usable row"),
    ],
)
def test_replay_without_a_usable_row_exits_65_with_one_line(tmp_path, text, problem) -> None:
    f = tmp_path / "in.csv"
    f.write_text(text)
    out = run_cli("replay", str(f))
    assert out.returncode == 65, out
    last = out.stderr.decode().strip().splitlines()
    assert str(f) in last[-1] and problem in last[-1]
    if "lacks" in problem or "empty" in problem or "header and" in problem:
        assert len(last) == 1, last  # one line, no row counted twice
    assert out.stdout == b""


def test_replay_without_a_header_still_reads_and_counts_no_bad_row(tmp_path) -> None:
    f = tmp_path / "in.csv"
    f.write_text(f"{T0},sbp,120\n{T0},dbp,70\n")
    out = run_cli("replay", str(f))
    assert out.returncode == 0, out.stderr
    assert b"no header" in out.stderr and b"bad row" not in out.stderr


# --- replay: a dose first ------------------------------------------------------------


def dose_first(path) -> None:
    rows = ["time,signal,value", f"{T0},dose,"]
    for i in range(1, 6):
        rows += [f"{T0 + i * 60},sbp,120", f"{T0 + i * 60},dbp,70", f"{T0 + i * 60},spo2,97"]
    path.write_text("\n".join(rows) + "\n")


def test_replay_all_with_a_dose_first_prints_trends_and_does_not_crash(tmp_path) -> None:
    f = tmp_path / "dose.csv"
    dose_first(f)
    out = run_cli("replay", "--all", str(f))
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr
    trends = [line for line in out.stdout.splitlines() if b'"type": "trend"' in line]
    assert len(trends) >= 5  # one per minute of readings, none at "no time yet"


def test_core_iter_replay_emits_no_trend_before_the_first_reading(tmp_path) -> None:
    f = tmp_path / "dose.csv"
    dose_first(f)
    with open(f) as fh:
        outs = list(iter_replay(read_replay(fh), Core(DEFAULT_CONFIG), include_all=True))
    trends = [o for o in outs if type(o).__name__ == "TrendSummary"]
    assert all(math.isfinite(o.time) for o in trends)
    assert len(trends) >= 5


# --- replay --publish: says what it does ------------------------------------------------


def test_replay_publish_says_at_once_it_connects_and_honours_connect_timeout(tmp_path) -> None:
    f = tmp_path / "dose.csv"
    dose_first(f)
    url = f"mqtt://127.0.0.1:{free_port()}"
    p = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "replay", str(f), "--publish", url,
         "--bed", "s/u/b", "--connect-timeout", "3"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert p.stderr is not None
    t0 = time.monotonic()
    first = p.stderr.readline().decode()
    assert time.monotonic() - t0 < 2.5 and "connecting to" in first and url in first
    rest = p.stderr.read().decode()
    assert p.wait(10) == 1
    assert time.monotonic() - t0 < 8  # --connect-timeout, not the 120 s of --timeout
    assert "still connecting" in rest and "within 3 s (--connect-timeout)" in rest


def test_replay_publish_reports_progress_to_a_real_broker(mosquitto, tmp_path) -> None:
    f = tmp_path / "dose.csv"
    dose_first(f)
    out = run_cli("replay", str(f), "--publish", mosquitto.url, "--bed", "s/u/b")
    assert out.returncode == 0, out.stderr
    err = out.stderr.decode()
    assert "connecting to" in err and "connected to" in err and "all acknowledged" in err


# --- usage errors exit 2, not 78 ----------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("replay", "x.csv", "--publish", "mqtt://127.0.0.1:99999", "--bed", "a/b/c"),
        ("replay", "x.csv", "--publish", "ftp://h", "--bed", "a/b/c"),
        ("replay", "x.csv", "--publish", "mqtt://127.0.0.1:1883", "--bed", "a/b"),
        ("replay", "x.csv", "--publish", "mqtt://127.0.0.1:1883"),
        ("replay", "x.csv", "--bed", "a/b/c"),
        ("station", "--duration", "1"),
        ("station", "--broker", "mqtt://h:0x", "--duration", "1"),
        ("station", "--broker", "mqtt://127.0.0.1:1", "--filter", "a//b", "--duration", "1"),
        ("station", "ack", "--broker", "mqtt://127.0.0.1:1", "--bed", "x", "--alert", "y"),
        ("demo", "--broker", "mqtt://h:99999"),
        ("demo", "--scenario", "worst"),
    ],
)
def test_usage_errors_exit_2_without_talk_of_a_file(argv) -> None:
    out = run_cli(*argv, timeout=30)
    assert out.returncode == 2, out
    assert b"Fix the file" not in out.stderr and b"configuration error" not in out.stderr
    assert b"error" in out.stderr


# --- --help ----------------------------------------------------------------------------

COMMANDS = ["check-config", "run", "demo", "decode", "simulate", "capture", "replay",
            "station", "evaluate"]  # fmt: skip


def help_text(*argv: str) -> str:
    out = run_cli(*argv, "--help")
    assert out.returncode == 0
    return out.stdout.decode()


@pytest.mark.parametrize("command", [*COMMANDS, "station ack"])
def test_help_has_no_markup_or_module_names(command) -> None:
    text = help_text(*command.split())
    assert "`" not in text
    assert not re.search(r"\b(edge|drivers)\.[a-z_]+", text), text


def test_help_shows_the_defaults_and_one_set_of_scenario_words() -> None:
    assert "default: 1" in help_text("simulate").split("--speed", 2)[2][:200]
    assert "default: 120)" in help_text("replay")
    assert "(default: 5)" in help_text("station").split("--interval", 2)[2]
    demo, simulate = help_text("demo"), help_text("simulate")
    for words in ("patient:SEVERITY[:SEED]", "none, mild, moderate or", "severe"):
        assert words in demo.replace("\n", " ") or words in demo
        assert words in " ".join(simulate.split())


def test_demo_accepts_the_simulators_patient_words() -> None:
    from edge.cli.demo import patient_scenario

    assert patient_scenario("patient:mild:3") == patient_scenario("mild:3") == "mild:3"


# --- simulate on a socket says it waits ----------------------------------------------------


def test_simulate_on_a_socket_says_it_waits_for_a_client() -> None:
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "simulate", "--device", "masimo-ascii",
         "--port", f"socket://127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert p.stderr is not None and p.stdout is not None
        assert p.stdout.readline().decode().strip() == f"socket://127.0.0.1:{port}"
        line = p.stderr.readline().decode()
        assert "waiting for a client" in line and str(port) in line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.settimeout(5)
            assert c.recv(100)  # and it does serve the client
    finally:
        p.terminate()
        p.wait(10)
