"""The house's floors: imports run downward only, and pure logic never pulls in Faust or SQLAlchemy.

``streams/`` is the ground; ``agents/`` (live state, views) and ``projections/`` (PostgreSQL) stand on
it side by side and never import each other; the composition root ``oddstream/`` stands on all three.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOOR = {"streams": 0, "agents": 1, "projections": 1, "oddstream": 2}

PURE = (
    "streams.clock",
    "streams.cursor",
    "streams.events",
    "streams.markets",
    "streams.market_catalog",
    "streams.run_rules",
    "streams.sequencing",
    "streams.upcasters",
    "streams.wire",
    "streams.sources.mapping",
    "streams.sources.betpawa",
    "streams.sources.sportybet",
    "streams.sources.bet9ja",
    "agents.odds_rules",
    "agents.board_state",
    "agents.board_query",
    "agents.board_summary",
    "agents.board_view",
    "projections.rows",
)
"""Modules of pure logic (mapping, margins, change detection, staleness, batch preparation)."""


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


def test_imports_run_downward_only() -> None:
    wrong = []
    for package, floor in FLOOR.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                if top in FLOOR and top != package and FLOOR[top] >= floor:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_pure_logic_never_imports_faust_or_sqlalchemy() -> None:
    # one fresh interpreter imports each pure module in turn and says what each one pulled in
    code = (
        "import importlib, json, sys\n"
        "heavy = {'faust', 'sqlalchemy', 'mode'}\n"
        "out = {}\n"
        f"for name in {list(PURE)!r}:\n"
        "    importlib.import_module(name)\n"
        "    out[name] = sorted({m.split('.')[0] for m in sys.modules} & heavy)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    pulled = json.loads(done.stdout)
    assert set(pulled) == set(PURE)
    assert {name: heavy for name, heavy in pulled.items() if heavy} == {}
