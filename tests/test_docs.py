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
