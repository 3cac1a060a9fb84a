"""``capleak run`` refuses a broken configuration with exit 78, naming the key."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_cli

GOOD_BED = '[bed]\nsite = "s1"\nunit = "u1"\nbed = "b1"\n'


def text(r) -> str:
    """stderr with the paragraph's line wrapping undone."""
    return " ".join(r.stderr.decode().split())


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "capleak.toml"
    p.write_text(text)
    return p


def test_unknown_key_exits_78_naming_it(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD_BED + '[broker]\nurll = "mqtt://127.0.0.1:1"\n')
    r = run_cli("run", "--config", str(cfg), timeout=30)
    assert r.returncode == 78, r.stderr
    assert "broker.urll" in text(r) and "did you mean 'url'" in text(r)
    assert "Traceback" not in text(r)


def test_missing_file_and_bad_toml_exit_78(tmp_path: Path) -> None:
    r = run_cli("run", "--config", str(tmp_path / "nope.toml"), timeout=30)
    assert r.returncode == 78 and "cannot read" in text(r)
    r = run_cli("run", "--config", str(write(tmp_path, "[bed\n")), timeout=30)
    assert r.returncode == 78 and "not valid TOML" in text(r)


def test_unknown_driver_exits_78(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        GOOD_BED
        + f'[storage]\nstate_dir = "{tmp_path}"\n'
        + '[[devices]]\nid = "x"\ndriver = "no-such-driver"\nport = "loop://"\n',
    )
    r = run_cli("run", "--config", str(cfg), timeout=30)
    assert r.returncode == 78 and "devices[0].driver" in text(r)


def test_unwritable_state_dir_exits_78(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = write(tmp_path, GOOD_BED + f'[storage]\nstate_dir = "{blocker}/state"\n')
    r = run_cli("run", "--config", str(cfg), timeout=30)
    assert r.returncode == 78, r.stderr
    assert "storage.state_dir" in text(r)


def test_bad_clock_spec_exits_78(tmp_path: Path) -> None:
    cfg = write(tmp_path, GOOD_BED + f'[storage]\nstate_dir = "{tmp_path}"\n')
    r = run_cli("run", "--config", str(cfg), env={"CAPLEAK_CLOCK": "speed=fast"}, timeout=30)
    assert r.returncode == 78, r.stderr
    assert "CAPLEAK_CLOCK" in text(r)
