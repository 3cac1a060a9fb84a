"""Simulator endpoints: the pty behind a stable symlink."""

from __future__ import annotations

import os

import pytest

from drivers.simulator import PtyEndpoint


def test_link_never_replaces_a_real_file(tmp_path) -> None:
    real = tmp_path / "ttyUSB0"
    real.write_text("not a link")
    with pytest.raises(ValueError, match="not a symlink"):
        PtyEndpoint(str(real)).open()
    assert real.read_text() == "not a link"
    link = tmp_path / "spo2"
    ep = PtyEndpoint(str(link))
    path = ep.open()
    assert os.readlink(link) == path
    ep.close()
    assert not os.path.lexists(link)
