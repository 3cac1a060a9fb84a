from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EX_CONFIG, ConfigError, config_from_dict, load_config
from tests.support import REPO, run_cli

EXAMPLE = REPO / "examples" / "capleak.toml"

MINIMAL = {"bed": {"site": "s1", "unit": "onc4", "bed": "b12"}}


def test_example_config_is_valid() -> None:
    from drivers.registry import driver_names

    cfg = load_config(EXAMPLE, known_drivers=driver_names())
    assert cfg.thresholds.hold_sbp_mmhg == 90
    assert cfg.topic_root.startswith("capleak/v1/")
    assert cfg.devices


def test_defaults_cite_sources() -> None:
    import dataclasses

    from edge.config import Thresholds

    for f in dataclasses.fields(Thresholds):
        assert f.metadata["doc"], f.name


@pytest.mark.parametrize(
    ("doc", "key", "problem"),
    [
        ({}, "bed", "required"),
        ({"bed": {"site": "s1", "unit": "u"}}, "bed.bed", "required"),
        (
            {**MINIMAL, "thresholds": {"hold_sbp_mmhg": "ninety"}},
            "thresholds.hold_sbp_mmhg",
            "number",
        ),
        ({**MINIMAL, "thresholds": {"hold_sbp_mmhg": 5}}, "thresholds.hold_sbp_mmhg", "between"),
        ({**MINIMAL, "thresholds": {"hold_sbp": 90}}, "thresholds.hold_sbp", "did you mean"),
        ({**MINIMAL, "tresholds": {}}, "tresholds", "did you mean 'thresholds'"),
        ({"bed": {"site": "s/1", "unit": "u", "bed": "b"}}, "bed.site", "no '/'"),
        ({**MINIMAL, "broker": {"url": "http://x"}}, "broker.url", "scheme"),
        ({**MINIMAL, "broker": {"url": "mqtt://u:pw@h"}}, "broker.url", "password"),
        ({**MINIMAL, "broker": {"protocol": "4"}}, "broker.protocol", "one of"),
        (
            {**MINIMAL, "broker": {"ca_file": "/nonexistent/ca.pem"}},
            "broker.ca_file",
            "cannot read",
        ),
        (
            {
                **MINIMAL,
                "devices": [
                    {"id": "a", "driver": "masimo-ascii", "port": "loop://"},
                    {"id": "a", "driver": "masimo-ascii", "port": "loop://"},
                ],
            },
            "devices[1].id",
            "duplicate",
        ),
        (
            {**MINIMAL, "devices": [{"id": "a", "driver": "nope", "port": "loop://"}]},
            "devices[0].driver",
            "unknown driver",
        ),
        ({**MINIMAL, "patient": {"dose_start": "tomorrow"}}, "patient.dose_start", "ISO 8601"),
        (
            {**MINIMAL, "thresholds": {"weight_gain_pct": [10, 5, 15]}},
            "thresholds.weight_gain_pct",
            "increasing",
        ),
    ],
)
def test_validation_names_the_key(doc: dict, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(doc, known_drivers=["masimo-ascii"])
    assert e.value.key == key
    assert problem in e.value.problem


def test_check_config_ok() -> None:
    r = run_cli("check-config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert b"OK" in r.stdout


def test_check_config_broken_exits_78_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[bed]\nsite = "s"\nunit = "u"\nbed = "b"\n[thresholds]\nhold_spo2_pct = "low"\n'
    )
    r = run_cli("check-config", str(bad))
    assert r.returncode == EX_CONFIG
    err = r.stderr.decode()
    assert "thresholds.hold_spo2_pct" in err
    assert "Traceback" not in err
    assert r.stdout == b""


def test_check_config_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[bed\n")
    r = run_cli("check-config", str(bad))
    assert r.returncode == EX_CONFIG and b"not valid TOML" in r.stderr
    r = run_cli("check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == EX_CONFIG and b"cannot read" in r.stderr
    assert b"Traceback" not in r.stderr


def test_version() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith(b"capleak ")
