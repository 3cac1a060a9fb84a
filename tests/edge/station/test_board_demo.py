"""``capleak demo`` starts the ward board too and prints its URL; the bed shows there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.edge.station.board_support import call
from tests.support import wait_for


def test_the_demo_serves_its_bed_on_the_board() -> None:
    exe = shutil.which("capleak", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "edge.cli"]
    proc = subprocess.Popen(
        [*cmd, "demo", "--scenario", "severe", "--days", "1", "--duration", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if line.startswith("Ward board: "):
                url = line.split()[2].rstrip("/")
                break
        assert url and url.startswith("http://127.0.0.1:"), "the demo printed no board URL"
        beds = wait_for(lambda: call("GET", url + "/api/beds")[2], timeout=30, message="a bed")
        assert [b["bed"] for b in beds] == ["demo/ward/bed-1"]
        rest = proc.stdout.read()
        assert proc.wait(90) == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
