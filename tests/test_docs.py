"""The docs quote the configuration's defaults as the code has them (issue 14)."""

from __future__ import annotations

import re

from edge.config import Thresholds
from tests.support import REPO


def test_docs_quote_the_nibp_overdue_default_of_the_code() -> None:
    default = Thresholds().nibp_overdue_min
    for doc in ("docs/core.md", "docs/agent.md", "examples/capleak.toml"):
        text = (REPO / doc).read_text()
        if doc.endswith(".md"):  # a sentence may wrap; a TOML comment may not
            text = " ".join(text.split())
        for m in re.finditer(r"nibp_overdue_min[^.;\n]*", text):
            quoted = re.findall(r"(?:default(?: is)?|=|\()\s*(\d+)", m.group(0))
            defaults = [int(q) for q in quoted if int(q) != 250]  # 250: the demo's override
            assert all(q == default for q in defaults), (doc, m.group(0), default)


def guide() -> str:
    return " ".join((REPO / "docs" / "install-raspberry-pi.md").read_text().split())


def test_the_pi_guide_gives_an_offline_route_from_a_built_wheel() -> None:
    """Issue 14: the guide needed PyPI, installed from the checkout as root (root-owned
    build/ and egg-info left behind) and claimed apt avoids "a long build"."""
    text = guide()
    assert "scripts/build-wheelhouse" in text and "pip download" in text
    assert "pip install --no-index --find-links ~/wheelhouse capleak" in text
    assert "aarch64" in text and "--only-binary=:all:" in text
    assert "--python-version 3.11" in text
    raw = (REPO / "docs" / "install-raspberry-pi.md").read_text()
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", raw, re.S))
    assert "pip install" in commands and "/path/to" not in commands  # never the checkout
    assert "a checkout or a wheel" not in text
    assert "long build" not in text
    # what each route installs, with bookworm's versions
    assert "1.24.2 / 1.10.1" in text and "wheels only" in text
    # scripts/check-pi followed it on an emulated Pi; its figures are in the guide
    assert "sudo scripts/check-pi" in text and "| all steps |" in text
    assert "binfmt_misc" in text  # and why it stops where arm64 emulation cannot run


def test_pyproject_says_why_the_numpy_and_scipy_floors_are_bookworms() -> None:
    text = (REPO / "pyproject.toml").read_text()
    head = text[: text.index("dependencies = [")]
    note = head[head.rindex("[project]") :]
    assert "bookworm" in note and "python3-numpy 1.24" in note and "python3-scipy 1.10" in note
    assert '"numpy>=1.24"' in text and '"scipy>=1.10"' in text
