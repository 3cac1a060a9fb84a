"""Every corpus file decodes to exactly its expected JSON lines (rtl_433-style corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.registry import driver_names, get_driver
from edge.cli.decode import reading_json
from tests.support import run_cli

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.glob("*.bin"))


def test_every_driver_has_corpus_files() -> None:
    """Every registered driver has a corpus (for a session driver such as
    IntelliVue: its passive decoder's, on top of its own session fixtures)."""
    covered = {f.name.split(".")[0] for f in FILES}
    assert covered == set(driver_names())


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_corpus_file(path: Path) -> None:
    driver = path.name.split(".")[0]
    decoder = get_driver(driver).decoder(driver, {})
    got = [reading_json(r) for r in decoder.feed(path.read_bytes())]
    want = path.with_suffix(".jsonl").read_text().splitlines()
    assert got == want
    assert not decoder.rejected


def test_cli_on_a_corpus_file() -> None:
    path = CORPUS / "masimo-ascii.published.bin"
    p = run_cli("decode", "--driver", "masimo-ascii", str(path))
    assert p.stdout.decode().splitlines() == path.with_suffix(".jsonl").read_text().splitlines()
