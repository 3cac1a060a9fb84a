"""The scripts a new user runs first (issue 14): real bash, real virtual environments."""

from __future__ import annotations

import hashlib
import os
import subprocess
import venv

from tests.support import REPO


def source_setup_env(env_dir) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTUAL_ENV": str(env_dir)}
    return subprocess.run(
        ["bash", "-c", f"source {REPO}/scripts/setup-env && echo PY=$PY"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_setup_env_says_it_installs_and_skips_pip_when_nothing_changed(tmp_path) -> None:
    # An environment without pip: if setup-env ran pip it would fail.
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    first = source_setup_env(env_dir)
    assert "installing capleak" in first.stderr and "pip install" in first.stderr
    assert first.returncode != 0 and "No module named pip" in first.stderr  # really attempted
    assert not (env_dir / ".capleak-installed").exists()  # a failed install is not recorded
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    (env_dir / ".capleak-installed").write_text(f"{digest} {REPO}\n")
    again = source_setup_env(env_dir)
    assert again.returncode == 0, again.stderr
    assert again.stderr == "" and f"PY={env_dir}/bin/python" in again.stdout
