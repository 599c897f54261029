"""The package front: its version, what importing it loads, and a docstring on every public name."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from types import GenericAlias, ModuleType
from typing import Any

import pytest

import minos.saga
from minos.saga.executions.repositories import postgresql


def test_version_is_the_distribution_version():
    assert minos.saga.__version__ == version("minos-microservice-saga")


def test_import_does_not_load_the_postgresql_driver():
    code = "import sys, minos.saga; print(sorted({'aiopg', 'psycopg2'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["minos.saga", "minos.saga.executions", "minos.saga.executions.repositories"])
def test_postgresql_repository_is_importable_from_every_front(module):
    front = __import__(module, fromlist=["PostgreSqlSagaExecutionRepository"])
    assert front.PostgreSqlSagaExecutionRepository is postgresql.PostgreSqlSagaExecutionRepository


def test_unknown_names_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        minos.saga.NoSuchThing  # noqa: B018


def public_modules() -> Iterator[ModuleType]:
    """``minos.saga`` and every module below it whose path has no ``_``-prefixed part."""
    yield minos.saga
    for module in pkgutil.walk_packages(minos.saga.__path__, "minos.saga."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            yield importlib.import_module(module.name)


def is_class(value: Any) -> bool:
    """A class, not a parametrised generic such as ``Callable[..., bool]`` (Python 3.9 and 3.10 call those classes)."""
    return inspect.isclass(value) and not isinstance(value, GenericAlias)


def own_public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """The methods and properties ``cls`` defines itself, without a leading underscore."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        function = function.fget if isinstance(function, property) else function
        if inspect.isfunction(function):
            yield name, function


def public_definitions() -> Iterator[tuple[str, Any]]:
    """Each public module, and the classes, functions, methods and properties it defines or exports (``__all__``)
    from an internal module, with its dotted path."""
    for module in public_modules():
        yield module.__name__, module
        exported = set(getattr(module, "__all__", ()))
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if name.startswith("_") or not (defined_here or name in exported):
                continue
            if is_class(value) or inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
            if is_class(value):
                for member, function in own_public_members(value):
                    yield f"{module.__name__}.{name}.{member}", function


def undocumented() -> list[str]:
    """The paths of the public definitions without a docstring of their own (not one inherited from a base class)."""
    return [path for path, value in public_definitions() if not own_docstring(value)]


def own_docstring(value: Any) -> str | None:
    """A class's own docstring (``__doc__`` is not inherited, but minos' ``Injectable`` subclasses lose it), or the
    docstring of a module or function."""
    return value.__dict__.get("__doc__") if is_class(value) else value.__doc__


def test_every_public_name_has_a_docstring():
    assert undocumented() == []


def test_the_docstring_check_sees_a_name_without_one(monkeypatch):
    def undocumented_function() -> None:
        pass

    undocumented_function.__module__ = "minos.saga.clock"
    monkeypatch.setattr("minos.saga.clock.undocumented_function", undocumented_function, raising=False)
    assert undocumented() == ["minos.saga.clock.undocumented_function"]


def public_classes() -> Iterator[type]:
    """Each public class once (a class several modules export is one object)."""
    seen: set[type] = set()
    for _, value in public_definitions():
        if is_class(value) and value not in seen:
            seen.add(value)
            yield value


def undocumented_attributes() -> list[str]:
    """The public attributes of the public classes (fields, enum members, ``self.x`` set in ``__init__``) without a
    docstring right after their assignment, as the API reference reads them. ``default_message`` is left out of the
    reference (``mkdocs.yml``): each exception's own docstring says when it is raised."""
    missing = []
    for cls in public_classes():
        tree = ast.parse(inspect.getsource(sys.modules[cls.__module__]))
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        names = [
            *assigned_without_docstring(node.body, "class"),
            *assigned_without_docstring(init.body if init else [], "self"),
        ]
        missing += [f"{cls.__module__}.{cls.__name__}.{name}" for name in names if name != "default_message"]
    return missing


def assigned_without_docstring(body: list[ast.stmt], owner: str) -> Iterator[str]:
    """The public names assigned in ``body`` with no string statement right after them: ``name = ...`` when
    ``owner`` is ``"class"``, ``self.name = ...`` (also in nested blocks) when it is ``"self"``."""
    for index, statement in enumerate(body):
        for block in ("body", "orelse", "finalbody"):
            if owner == "self" and isinstance(getattr(statement, block, None), list):
                yield from assigned_without_docstring(getattr(statement, block), owner)
        following = body[index + 1] if index + 1 < len(body) else None
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or _is_docstring(following):
            continue
        for target in statement.targets if isinstance(statement, ast.Assign) else [statement.target]:
            if owner == "class" and isinstance(target, ast.Name):
                name = target.id
            elif owner == "self" and isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self":
                name = target.attr
            else:
                continue
            if not name.startswith("_"):
                yield name


def _is_docstring(statement: ast.stmt | None) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def test_every_public_attribute_has_a_docstring():
    assert undocumented_attributes() == []


def test_the_attribute_check_sees_attributes_without_one():
    source = """
class Example:
    documented = 1
    \"\"\"Said.\"\"\"
    bare: int = 2
    _private = 3

    def __init__(self):
        self.kept = 4
        \"\"\"Said.\"\"\"
        if True:
            self.nested = 5
        self.last = 6
"""
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    init = node.body[-1]
    assert isinstance(init, ast.FunctionDef)
    assert list(assigned_without_docstring(node.body, "class")) == ["bare"]
    assert list(assigned_without_docstring(init.body, "self")) == ["nested", "last"]
