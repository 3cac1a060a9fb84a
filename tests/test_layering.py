"""The dependency direction of ``docs/architecture.md``, checked on every import in the tree.

Every ``import`` statement counts, including the lazy ones inside functions, so
a layer cannot reach round the rule by importing late. Each rule names the layer,
the prefixes it may not import, and why (``shared/docs/style.md``, dependency
direction).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """Absolute names of every module that ``path`` (named ``module``) imports."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def modules(*prefixes: str) -> list[Path]:
    out = []
    for prefix in prefixes:
        p = ROOT / prefix.replace(".", "/")
        if p.with_suffix(".py").is_file():
            out.append(p.with_suffix(".py"))
        else:
            out.extend(sorted(p.rglob("*.py")))
    return out


def offending(
    paths: list[Path], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> list[str]:
    bad = []
    for path in paths:
        for name in sorted(imports_of(path)):
            if any(name == a or name.startswith(a + ".") for a in allowed):
                continue
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


#: layer -> (what it may not import, exceptions, why)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "edge.vocabulary": (("edge", "drivers"), (), "the vocabulary imports nothing of ours"),
    "edge.config": (
        ("edge", "drivers"),
        ("edge.vocabulary", "edge.config"),
        "every layer can reach the config",
    ),
    "edge.clock": (("edge", "drivers"), ("edge.vocabulary",), "every layer can reach the clock"),
    "drivers": (("edge",), ("edge.vocabulary",), "drivers know the vocabulary only"),
    "edge.core": (
        ("drivers", "edge"),
        ("edge.vocabulary", "edge.config", "edge.core"),
        "the core is pure: vocabulary and its settings only",
    ),
    "edge.messaging": (
        ("drivers", "edge.core", "edge.agent", "edge.station", "edge.lab", "edge.cli"),
        (),
        "messaging knows the vocabulary, not devices or the core",
    ),
    "edge.station": (
        ("drivers", "edge.core", "edge.agent", "edge.lab", "edge.cli"),
        (),
        "the station side only reads the MQTT contract",
    ),
    "edge.agent": (
        ("drivers.simulator", "edge.lab", "edge.station", "edge.cli"),
        (),
        "the live agent never imports the lab, the station or the simulators",
    ),
}


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    forbidden, allowed, why = RULES[layer]
    paths = modules(layer)
    assert paths, f"no modules found for {layer}"
    bad = offending(paths, forbidden, allowed)
    assert not bad, f"{why}:\n" + "\n".join(bad)


def test_live_drivers_never_import_the_simulator_engine() -> None:
    """Device modules may hold a simulator *model*, never the engine (ptys, scenarios)."""
    live = [p for p in modules("drivers") if "simulator" not in p.relative_to(ROOT).parts]
    bad = offending(live, ("drivers.simulator",))
    assert not bad, "\n".join(bad)


def test_the_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative import are both seen."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import drivers.simulator\n    from . import x\n")
    assert {"drivers.simulator", "edge.core.x"} <= imports_of(probe, "edge.core.probe")


#: ``docs/architecture.md``: no god-files. A module that outgrows this is split along its seams.
MAX_MODULE_LINES = 700


def test_no_module_over_700_lines() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in modules("edge", "drivers")
        if (n := len(p.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"split these along their seams: {big}"
