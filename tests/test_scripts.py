"""The scripts a new user runs first (issue 14): real bash, real virtual environments."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
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


def test_every_script_the_pytest_markers_name_exists_and_selects_tests() -> None:
    text = (REPO / "pyproject.toml").read_text()
    named = set(re.findall(r"scripts/([a-z][a-z-]*[a-z])\b(?!-)", text))
    assert "soak" in named
    for name in named - {"bench"}:  # scripts/bench-* is a family
        script = REPO / "scripts" / name
        assert script.is_file() and os.access(script, os.X_OK), script
    assert "-m soak" in (REPO / "scripts" / "soak").read_text()
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "soak", "--collect-only", "-q",
         "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert "test_broker_stopped_for_a_minute" in listed.stdout, listed.stdout[-2000:]


def test_the_unit_file_header_checks_the_unit_as_the_guide_does() -> None:
    header = [ln for ln in (REPO / "systemd/capleak.service").read_text().splitlines()
              if ln.startswith("#")]  # fmt: skip
    guide = (REPO / "docs/install-raspberry-pi.md").read_text()
    checks = [ln for ln in header if "systemd-analyze security" in ln]
    assert checks and all("--offline=yes systemd/capleak.service" in ln for ln in checks)
    assert "systemd-analyze security --offline=yes systemd/capleak.service" in guide


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / args[0]), *args[1:]],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_build_wheelhouse_and_check_pi_explain_themselves_and_refuse_bad_usage() -> None:
    for name in ("build-wheelhouse", "check-pi"):
        helped = run_script(name, "--help")
        assert helped.returncode == 0 and "usage: scripts/" + name in helped.stdout, name
        bad = run_script(name, "--bogus")
        assert bad.returncode == 2 and "unknown" in bad.stderr, name
    assert run_script("build-wheelhouse").returncode == 2  # no OUTDIR
    text = (REPO / "scripts" / "build-wheelhouse").read_text()
    assert "--only-binary=:all:" in text and "--python-version" in text


def test_check_pi_fails_clearly_without_arm64_emulation(tmp_path) -> None:
    """Where the kernel cannot hand arm64 programs to qemu (no binfmt_misc, or a mount
    refused), check-pi stops at once and says why, before any debootstrap."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    r = run_script("check-pi", env={"CAPLEAK_PI_BINFMT": str(blocker / "binfmt_misc"),
                                    "CAPLEAK_PI_CACHE": str(tmp_path / "cache")})  # fmt: skip
    assert r.returncode == 1, r.stderr
    reasons = ("arm64 emulation cannot run here", "needs root", "is missing: apt-get install")
    assert r.stderr.startswith("check-pi: FAILED: ") and any(x in r.stderr for x in reasons)
    assert not (tmp_path / "cache").exists()  # nothing built
