"""The systemd unit and the udev rules: what they must say, and systemd's own checks.

``systemd-analyze verify`` and ``security --offline`` run wherever the binary
exists (Debian, Raspberry Pi OS); the key checks run everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

UNIT = REPO / "systemd" / "capleak.service"
RULES = REPO / "systemd" / "99-capleak.rules"
INSTALLED_EXE = "/opt/capleak/venv/bin/capleak"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> ordered (key, value) pairs; repeated keys kept (systemd appends)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        assert current is not None, f"key outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    got = values(section, key)
    assert len(got) == 1, f"{key} set {len(got)} times"
    return got[0]


def test_unit_has_the_required_settings() -> None:
    unit = parse_unit(UNIT.read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    svc = unit["Service"]
    assert one(svc, "Type") == "notify"
    assert int(one(svc, "WatchdogSec")) > 0
    assert one(svc, "Restart") == "on-failure"
    assert "78" in one(svc, "RestartPreventExitStatus").split()
    assert one(svc, "ExecStart").split()[:4] == [
        INSTALLED_EXE,
        "run",
        "--config",
        "/etc/capleak/capleak.toml",
    ]
    assert one(svc, "DynamicUser") == "yes"
    assert one(svc, "StateDirectory") == "capleak"
    assert "dialout" in one(svc, "SupplementaryGroups").split()
    allowed = values(svc, "DeviceAllow")
    assert "char-ttyUSB rw" in allowed and "char-ttyACM rw" in allowed
    for key, want in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "LockPersonality": "yes",
        "ProtectKernelTunables": "yes",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert one(svc, key) == want, key
    assert "@system-service" in values(svc, "SystemCallFilter")
    assert "PrivateDevices" not in dict(svc), "PrivateDevices=yes would hide the serial ports"
    assert one(unit["Install"], "WantedBy") == "multi-user.target"


def test_the_state_directory_is_where_the_example_config_keeps_the_outbox() -> None:
    text = (REPO / "examples" / "capleak.toml").read_text()
    assert 'state_dir = "/var/lib/capleak"' in text


def _unit_with_this_checkout(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's capleak (verify checks it exists)."""
    exe = Path(sys.executable).with_name("capleak")
    assert exe.exists(), "the capleak console script is installed next to the test python"
    out = tmp_path / "capleak.service"
    out.write_text(UNIT.read_text().replace(INSTALLED_EXE, str(exe)))
    return out


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    unit = parse_unit(UNIT.read_text())  # always: the install-independent part
    assert unit["Service"]
    if analyze is None:
        return  # no systemd on this machine: the key checks above are what we can do
    r = subprocess.run(
        [analyze, "verify", str(_unit_with_this_checkout(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for ignored lines ("Unknown key", "Failed to parse"):
    # any diagnostic at all is a failure.
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stderr.strip() == "", r.stderr


def test_systemd_analyze_security_rates_it_ok_or_better(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # nothing to run; the required hardening keys are checked above
    r = subprocess.run(
        [analyze, "security", "--offline=yes", str(_unit_with_this_checkout(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in r.stderr and "unrecognized" in r.stderr:
        pytest.fail("systemd-analyze is older than v250 (no --offline): upgrade systemd")
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    score, rating = float(m.group(1)), m.group(2)
    assert rating in {"PERFECT", "SAFE", "OK"}, (score, rating)
    assert score <= 2.0, f"exposure {score} regressed from the documented 1.5"


def test_udev_rules_name_devices_and_keep_modemmanager_away() -> None:
    rules = []
    pending = ""
    for raw in RULES.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line and not line.startswith("#"):
            rules.append(line)
    named = [r for r in rules if "SYMLINK+=" in r]
    assert len(named) >= 3
    names = [re.search(r'SYMLINK\+="([^"]+)"', r).group(1) for r in named]
    assert len(set(names)) == len(names), "stable names must be unique"
    for rule in rules:
        assert 'SUBSYSTEM=="tty"' in rule
        assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in rule
        for clause in rule.split(", "):
            assert re.fullmatch(r'[A-Z_]+(\{[A-Za-z_]+\})?(==|\+=|=)"[^"]*"', clause.strip()), (
                clause
            )


def test_the_unit_allows_the_gpio_uart_of_every_pi() -> None:
    """Issue 14: on a Pi 3/4 with Bluetooth on, the GPIO UART (serial0) is /dev/ttyS0
    (major 4, "ttyS" in /proc/devices), which the unit did not allow; /dev/ttyAMA0 is the
    PL011, the GPIO UART on a Pi 5 or with Bluetooth moved."""
    allowed = values(parse_unit(UNIT.read_text())["Service"], "DeviceAllow")
    assert "char-ttyS rw" in allowed and "char-ttyAMA rw" in allowed
    guide = " ".join((REPO / "docs" / "install-raspberry-pi.md").read_text().split())
    assert "/dev/ttyS0" in guide and "/dev/ttyAMA0" in guide and "char-ttyS rw" in guide
