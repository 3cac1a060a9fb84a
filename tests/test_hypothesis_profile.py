"""The CI hypothesis profile explores new examples on every run and says how to replay one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

FAILING = """
from hypothesis import given, strategies as st

@given(st.integers(0, 10**9))
def test_small(n):
    assert n < 1000
"""


def test_ci_profile_is_random_bounded_and_without_deadline() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is False
    assert ci.deadline is None
    assert 0 < ci.max_examples <= 200


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_failing.py").write_text(FAILING)
    args = (str(tmp_path / "test_failing.py"), *args)
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(REPO)}
    env.pop("HYPOTHESIS_PROFILE", None)
    plugins = ["-p", "tests.conftest", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-q", "--rootdir", str(tmp_path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_ci_failure_prints_the_seed_that_replays_it(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    m = re.search(r"replay it with --hypothesis-seed=(\d+)", first.stdout)
    assert m, first.stdout
    again = _run(tmp_path, f"--hypothesis-seed={m.group(1)}")
    assert again.returncode == 1
    assert f"--hypothesis-seed={m.group(1)}" in again.stdout
