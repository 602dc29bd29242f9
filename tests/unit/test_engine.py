"""The one door to Faust's internals: what it relies on exists in the pinned versions, and no other
module of the product reaches past the public API of anything."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from streams import engine

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("streams", "agents", "projections", "oddstream")
DOOR = ROOT / "streams" / "engine.py"
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make"})  # public, underscored to avoid clashes


def _source(cls: type) -> str:
    chunks = []
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] in ("faust", "aiokafka", "mode"):
            chunks.append(inspect.getsource(klass))
    return "\n".join(chunks)


@pytest.mark.parametrize(("module", "cls", "attribute"), engine.PRIVATE_ATTRIBUTES)
def test_every_private_attribute_the_door_uses_exists(module: str, cls: str, attribute: str) -> None:
    klass = getattr(importlib.import_module(module), cls)
    if "." in attribute:  # an attribute the class sets on another object: self.<path> = ...
        assert re.search(rf"self\.{re.escape(attribute)}\s*=", _source(klass)), (module, cls, attribute)
    else:
        assigned = re.search(rf"self\.{re.escape(attribute)}\s*[:=]", _source(klass))
        assert hasattr(klass, attribute) or assigned, (module, cls, attribute)


def _private_uses(path: Path) -> list[str]:
    """``x._name`` on anything but ``self``/``cls``, and ``getattr(x, "_name")``, in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in NAMEDTUPLE_API
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and str(node.args[1].value).startswith("_")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_only_the_door_reaches_private_attributes() -> None:
    uses: dict[str, list[str]] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if found := _private_uses(path):
                uses[str(path.relative_to(ROOT))] = found
    assert set(uses) == {str(DOOR.relative_to(ROOT))}, uses


def test_the_door_lists_every_private_attribute_it_uses() -> None:
    listed = {attribute.split(".")[-1] for _, _, attribute in engine.PRIVATE_ATTRIBUTES}
    used = {re.findall(r"_[a-z_]+", use.split(" ", 1)[1])[0] for use in _private_uses(DOOR)}
    assert used and used <= listed, used - listed


def test_the_web_door_refuses_a_request_that_is_not_aiohttps() -> None:
    with pytest.raises(TypeError, match="not an aiohttp request"):
        engine.aiohttp_request(object())
