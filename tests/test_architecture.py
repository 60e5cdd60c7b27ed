"""The layer rules of docs/ARCHITECTURE.md, checked on every import statement in src/iotvet."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "iotvet"

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "plan": {"core"},
    "transport": {"core", "plan"},
    "auth": {"core", "plan", "transport"},
    "api": {"core", "plan", "transport"},
    "checks": {"core", "plan", "transport", "auth", "api"},
    "probes": {"core", "plan", "transport", "auth", "api", "checks"},
    "store": {"core", "plan", "checks"},
    "report": {"core", "checks", "store"},
    "assess": {"core", "plan", "checks", "store", "report"},
    "lab": {"core", "checks", "plan"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n.startswith("iotvet.")]


def test_layers_import_only_upwards() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0]
        if layer not in ALLOWED:
            continue  # cli and the package root may import anything
        for name in _imports(path):
            other = name.split(".")[1]
            if other != layer and other not in ALLOWED[layer] and other != "__init__":
                problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []


def test_only_the_transport_and_the_lab_speak_http_or_mqtt() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0]
        if layer in ("transport", "lab"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            offenders += [f"{path.relative_to(SRC)}: {m}" for m in mods
                          if m.split(".")[0] in ("aiohttp", "httpx", "paho", "aiomqtt", "socket", "requests")]
    assert offenders == []
