"""The `.pyi` stubs describe `intentrail._native` exactly: same public names, same kinds,
same parameter names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Dict, List, Tuple

import intentrail
from intentrail import _native

STUB = Path(intentrail.__file__).with_name("_native.pyi")


def _params(fn: ast.FunctionDef) -> List[str]:
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]


def _stub() -> Tuple[Dict[str, ast.AST], Dict[str, Dict[str, ast.FunctionDef]]]:
    tree = ast.parse(STUB.read_text())
    names: Dict[str, ast.AST] = {}
    members: Dict[str, Dict[str, ast.FunctionDef]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names[node.name] = node
        elif isinstance(node, ast.ClassDef):
            names[node.name] = node
            members[node.name] = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return {k: v for k, v in names.items() if not k.startswith("_") or k == "__version__"}, members


def _public(obj: object) -> set:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_the_package_ships_stubs_and_py_typed() -> None:
    assert STUB.is_file()
    assert STUB.with_name("py.typed").is_file()


def test_stub_names_match_the_module() -> None:
    names, _ = _stub()
    assert set(names) == _public(_native) | {"__version__"}


def test_stub_callables_match_the_module() -> None:
    names, members = _stub()
    for name, node in names.items():
        obj = getattr(_native, name)
        if isinstance(node, ast.FunctionDef):
            assert callable(obj) and not inspect.isclass(obj), name
            assert list(inspect.signature(obj).parameters) == _params(node), name
        elif isinstance(node, ast.ClassDef):
            assert inspect.isclass(obj), name
            stub_members = members[name]
            real = _public(obj)
            assert {m for m in stub_members if not m.startswith("_")} == real, name
            for m, fn in stub_members.items():
                if m == "__init__":
                    assert list(inspect.signature(obj).parameters) == _params(fn), name
                    continue
                attr = inspect.getattr_static(obj, m)
                is_prop = any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list)
                if is_prop:
                    assert not callable(attr), f"{name}.{m} is a property in the stub"
                else:
                    assert callable(attr), f"{name}.{m}"
                    assert list(inspect.signature(getattr(obj, m)).parameters)[1:] == _params(fn), f"{name}.{m}"
        else:
            assert not callable(obj), name
