"""CLI contracts (issue #3): `capleak decode`, `capture` and `simulate --replay`, as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from drivers.accutorr import AccutorrAnswer
from drivers.accutorr import encode as accutorr_encode
from drivers.nonin_df2 import NoninSample
from drivers.nonin_df2 import encode as nonin_encode
from tests.support import Pty, run_cli

MASIMO = (
    b"09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800\r\n"
    b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=---% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000001\r\n"
    b"09/15/10 15:10:30 SPO2=096% BPM=065 PI=--.--% ALARM=20 EXC=000020\r\n"
)


def lines(stdout: bytes) -> list[dict]:
    return [json.loads(x) for x in stdout.decode().splitlines()]


def test_decode_masimo_file_has_frame_times(tmp_path: Path) -> None:
    f = tmp_path / "masimo.bin"
    f.write_bytes(MASIMO)
    p = run_cli("decode", "--driver", "masimo-ascii", str(f))
    assert p.returncode == 0, p.stderr
    assert lines(p.stdout) == [
        {
            "signal": "spo2",
            "value": 97.0,
            "unit": "%",
            "flags": [],
            "source": "masimo-ascii",
            "time": "2010-09-15T15:10:29.000Z",
        },
        {
            "signal": "pulse",
            "value": 64.0,
            "unit": "/min",
            "flags": [],
            "source": "masimo-ascii",
            "time": "2010-09-15T15:10:29.000Z",
        },
        {
            "signal": "pi",
            "value": 11.82,
            "unit": "%",
            "flags": [],
            "source": "masimo-ascii",
            "time": "2010-09-15T15:10:29.000Z",
        },
        {
            "signal": "spo2",
            "value": 96.0,
            "unit": "%",
            "flags": ["sensor_off"],
            "source": "masimo-ascii",
            "time": "2010-09-15T15:10:30.000Z",
        },
        {
            "signal": "pulse",
            "value": 65.0,
            "unit": "/min",
            "flags": ["sensor_off"],
            "source": "masimo-ascii",
            "time": "2010-09-15T15:10:30.000Z",
        },
    ]
    assert p.stderr == b""


def test_decode_nonin_stdin_no_time_and_corrupt_counted_on_stderr() -> None:
    bad = bytearray(nonin_encode(NoninSample(91, 80)))
    bad[13] ^= 0x10
    data = nonin_encode(NoninSample(None, 75, frozenset({"artifact"}))) + bytes(bad)
    data += nonin_encode(NoninSample(92, 81))
    p = run_cli("decode", "--driver", "nonin-df2", "-", input=data)
    assert p.returncode == 0
    assert lines(p.stdout) == [
        {
            "signal": "pulse",
            "value": 75.0,
            "unit": "/min",
            "flags": ["artifact"],
            "source": "nonin-df2",
        },
        {"signal": "spo2", "value": 92.0, "unit": "%", "flags": [], "source": "nonin-df2"},
        {"signal": "pulse", "value": 81.0, "unit": "/min", "flags": [], "source": "nonin-df2"},
    ]
    assert b"corrupt frame" in p.stderr and b"checksum 1" in p.stderr


def test_decode_poll_driver_reads_captured_answers() -> None:
    answers = [AccutorrAnswer(None, 70, 120, 90, 75, m) for m in (0, 1, 2)]
    data = b"".join(accutorr_encode(a) for a in answers) + b"P:garbage\r"
    p = run_cli("decode", "--driver", "accutorr", input=data)
    assert [(x["signal"], x["value"]) for x in lines(p.stdout)] == [
        ("pulse", 70.0),
        ("sbp", 120.0),
        ("map", 90.0),
        ("dbp", 75.0),
        ("pulse", 70.0),
        ("pulse", 70.0),
    ]
    assert all("time" not in x for x in lines(p.stdout))
    assert b"1 corrupt frame(s) skipped (malformed 1)" in p.stderr


def test_decode_unknown_driver_is_a_usage_error() -> None:
    p = run_cli("decode", "--driver", "nope", input=b"")
    assert p.returncode == 2 and b"invalid choice" in p.stderr


def test_capture_then_replay_then_decode(tmp_path: Path) -> None:
    """A simulator stands in for the monitor: capture it, replay the capture, decode both."""
    link = tmp_path / "dev"
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "simulate",
            "--device",
            "masimo-ascii",
            "--port",
            "pty",
            "--link",
            str(link),
            "--scenario",
            "spo2=95,pulse=70,pi=2",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None and sim.stdout.readline().startswith(b"/dev/")
        cap = tmp_path / "ox.cap"
        p = run_cli(
            "capture",
            "--port",
            str(link),
            "--driver",
            "masimo-ascii",
            "--out",
            str(cap),
            "--duration",
            "2.5",
        )
        assert p.returncode == 0, p.stderr
    finally:
        sim.terminate()
        sim.wait(10)
    text = cap.read_text()
    assert text.startswith("# capleak-capture 1\n") and " rx " in text
    p = run_cli("decode", "--driver", "masimo-ascii", "--capture", str(cap))
    decoded = lines(p.stdout)
    assert len(decoded) >= 3 and {x["value"] for x in decoded if x["signal"] == "spo2"} == {95.0}

    # replay into a pty the test holds (the replay opens its device PATH), read it back
    pty = Pty()
    try:
        rep = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "simulate",
                "--replay",
                str(cap),
                "--port",
                pty.path,
            ],
            stdout=subprocess.PIPE,
        )
        assert rep.stdout is not None and rep.stdout.readline().strip() == pty.path.encode()
        got, t0 = b"", time.monotonic()
        while rep.poll() is None and time.monotonic() - t0 < 10:
            got += pty.read(4096, timeout=0.2)
        got += pty.read(4096, timeout=0.2)
        rep.wait(10)
    finally:
        pty.close()
    raw = b"".join(
        bytes.fromhex(line.split()[2])
        for line in text.splitlines()
        if not line.startswith("#") and line.split()[1] == "rx"
    )
    assert got == raw
    assert rep.returncode == 0
