"""Conformance of ``minos.saga`` with the public API of the published 0.7.0 package.

The reference is ``tests/fixtures/api-manifest-0.7.0.json`` (a copy of the project's shared spec): for every
public name its defining module, bases, public members (kind,
async-ness, signature), enum members and abstract methods. Annotations are not compared, as their
string form differs between implementations; parameter names, kinds, order and defaults are.
"""

import enum
import importlib
import inspect
import json
from inspect import Parameter
from pathlib import Path
from typing import Any, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


MANIFEST_PATH = REPO_ROOT / "tests" / "fixtures" / "api-manifest-0.7.0.json"
MANIFEST: dict[str, dict[str, Any]] = json.loads(MANIFEST_PATH.read_text()) if MANIFEST_PATH.is_file() else {}


# --- a tiny parser for the manifest's signature strings ------------------------------------------

_CLOSING = {"(": ")", "[": "]", "{": "}", "<": ">"}

# (name, kind, repr of the default or None)
ParamSpec = tuple[str, Any, Optional[str]]


def _split_top_level(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split ``text`` on ``separator`` where it is outside brackets and quotes."""
    parts: list[str] = []
    current: list[str] = []
    stack: list[str] = []
    quote, i = None, 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                current.append(text[i : i + 2])
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            stack.append(_CLOSING[char])
        elif stack and char == stack[-1]:
            stack.pop()
        elif not stack and text.startswith(separator, i) and len(parts) != maxsplit:
            parts.append("".join(current))
            current = []
            i += len(separator)
            continue
        current.append(char)
        i += 1
    if quote or stack:
        raise ValueError(f"Unbalanced signature text: {text!r}")
    parts.append("".join(current))
    return parts


def parse_signature(text: str) -> list[ParamSpec]:
    """Parse ``"(a, b: 'X' = 1, *args, c=None, **kwargs) -> 'R'"`` into ``(name, kind, default)``."""
    text = text.strip()
    if not text.startswith("("):
        raise ValueError(f"Not a signature: {text!r}")
    inner, _return_annotation = _split_top_level(text[1:], ")", maxsplit=1)
    params: list[ParamSpec] = []
    kind: Any = Parameter.POSITIONAL_OR_KEYWORD
    for raw in _split_top_level(inner, ","):
        raw = raw.strip()
        if not raw:
            continue
        if raw == "/":  # everything so far was positional-only
            params = [(name, Parameter.POSITIONAL_ONLY, default) for name, _, default in params]
            continue
        if raw == "*":
            kind = Parameter.KEYWORD_ONLY
            continue
        name_and_annotation, *default = _split_top_level(raw, "=", maxsplit=1)
        name = name_and_annotation.split(":", 1)[0].strip()
        default_text = default[0].strip() if default else None
        if name.startswith("**"):
            params.append((name[2:], Parameter.VAR_KEYWORD, None))
        elif name.startswith("*"):
            params.append((name[1:], Parameter.VAR_POSITIONAL, None))
            kind = Parameter.KEYWORD_ONLY
        else:
            if not name.isidentifier():
                raise ValueError(f"Bad parameter {raw!r} in {text!r}")
            params.append((name, kind, default_text))
    return params


def render(params: list[ParamSpec]) -> str:
    """Render parsed parameters back as ``(a, /, b=1, *args, c, **kwargs)`` for error messages."""
    out: list[str] = []
    for index, (name, kind, default) in enumerate(params):
        previous = params[index - 1][1] if index else None
        if previous == Parameter.POSITIONAL_ONLY and kind != previous:
            out.append("/")
        if kind == Parameter.KEYWORD_ONLY and previous not in (Parameter.KEYWORD_ONLY, Parameter.VAR_POSITIONAL):
            out.append("*")
        prefix = {Parameter.VAR_POSITIONAL: "*", Parameter.VAR_KEYWORD: "**"}.get(kind, "")
        out.append(f"{prefix}{name}" + ("" if default is None else f"={default}"))
    if params and params[-1][1] == Parameter.POSITIONAL_ONLY:
        out.append("/")
    return f"({', '.join(out)})"


def actual_signature(func: Any) -> list[ParamSpec]:
    return [
        (p.name, p.kind, None if p.default is Parameter.empty else repr(p.default))
        for p in inspect.signature(func).parameters.values()
    ]


# --- helpers ---------------------------------------------------------------------------------------


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _member_kind(raw: Any) -> str:
    if isinstance(raw, property):
        return "property"
    if isinstance(raw, classmethod):
        return "classmethod"
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if callable(raw):
        return "method"
    return type(raw).__name__


def _check_callable(label: str, func: Any, expected: dict[str, Any], errors: list[str]) -> None:
    if "async" in expected and inspect.iscoroutinefunction(func) != expected["async"]:
        errors.append(f"{label}: async should be {expected['async']}")
    if "signature" in expected:
        wanted, got = parse_signature(expected["signature"]), actual_signature(func)
        if wanted != got:
            errors.append(f"{label}: signature {render(got)} != expected {render(wanted)}")


def _check_class(cls: type, spec: dict[str, Any], errors: list[str]) -> None:
    bases = [_qualified(base) for base in cls.__bases__]
    if bases != spec["bases"]:
        errors.append(f"bases {bases} != expected {spec['bases']}")

    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract != sorted(spec.get("abstract", [])):
        errors.append(f"abstract methods {abstract} != expected {sorted(spec['abstract'])}")

    if spec["kind"] == "enum":
        if not issubclass(cls, enum.Enum):
            errors.append("is not an Enum")
        elif (members := {m.name: m.value for m in cls}) != spec["members"]:
            errors.append(f"enum members {members} != expected {spec['members']}")
        return

    for name, member in spec["members"].items():
        label = f"{cls.__name__}.{name}"
        try:
            raw = inspect.getattr_static(cls, name)  # looks along the MRO, without binding
        except AttributeError:
            errors.append(f"{label}: missing")
            continue
        kind = _member_kind(raw)
        if kind != member["kind"]:
            errors.append(f"{label}: is a {kind}, expected a {member['kind']}")
            continue
        if kind != "property":
            _check_callable(label, getattr(raw, "__func__", raw), member, errors)


# --- tests ---------------------------------------------------------------------------------------


def test_manifest_is_available():
    assert MANIFEST_PATH.is_file(), f"API manifest not found at {MANIFEST_PATH}"
    assert len(MANIFEST) == 56


def test_every_manifest_signature_parses():
    for spec in MANIFEST.values():
        members = [spec] if spec["kind"] == "function" else spec.get("members", {}).values()
        for member in members:
            if isinstance(member, dict) and "signature" in member:
                assert parse_signature(member["signature"])


def test_parse_signature():
    P = Parameter
    assert parse_signature("(self, status: 'SagaStatus' = <SagaStatus.Created: 'created'>, *args, **kwargs)") == [
        ("self", P.POSITIONAL_OR_KEYWORD, None),
        ("status", P.POSITIONAL_OR_KEYWORD, "<SagaStatus.Created: 'created'>"),
        ("args", P.VAR_POSITIONAL, None),
        ("kwargs", P.VAR_KEYWORD, None),
    ]
    assert parse_signature("(a, /, b: dict[str, int] = {'x=1': 2}, *, c=None) -> 'Optional[int]'") == [
        ("a", P.POSITIONAL_ONLY, None),
        ("b", P.POSITIONAL_OR_KEYWORD, "{'x=1': 2}"),
        ("c", P.KEYWORD_ONLY, "None"),
    ]
    assert render(parse_signature("(a, /, b=1, *, c, **kw) -> int")) == "(a, /, b=1, *, c, **kw)"


@pytest.mark.parametrize("name", sorted(MANIFEST) or ["<manifest not found>"])
def test_public_name(name: str):
    assert name in MANIFEST, f"API manifest not found at {MANIFEST_PATH}"
    spec = MANIFEST[name]
    saga = importlib.import_module("minos.saga")
    assert hasattr(saga, name), f"minos.saga does not export {name!r}"
    obj = getattr(saga, name)

    errors: list[str] = []
    if obj.__module__ != spec["module"]:
        errors.append(f"defined in {obj.__module__!r}, expected {spec['module']!r}")
    if spec["kind"] == "function":
        if inspect.isclass(obj) or not callable(obj):
            errors.append(f"is not a function: {obj!r}")
        else:
            _check_callable(name, obj, spec, errors)
    elif not inspect.isclass(obj):
        errors.append(f"is not a class: {obj!r}")
    else:
        _check_class(obj, spec, errors)
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


def test_saga_manager_is_injectable():
    saga = importlib.import_module("minos.saga")
    assert saga.SagaManager.get_injectable_name() == "saga_manager"


def test_testing_module():
    testing = importlib.import_module("minos.saga.testing")
    for name in ("MockedSagaExecutionDatabaseOperationFactory", "SagaExecutionRepositoryTestCase"):
        assert hasattr(testing, name), f"minos.saga.testing does not export {name!r}"


MODULE_NAMES_PATH = REPO_ROOT / "tests" / "fixtures" / "module-names-0.7.0.json"
MODULE_NAMES: dict[str, dict[str, str]] = json.loads(MODULE_NAMES_PATH.read_text())


def test_module_names_fixture_covers_every_0_7_0_module():
    assert len(MODULE_NAMES) == 37
    assert MODULE_NAMES["minos.saga.exceptions"]["ExecutorException"] == "minos.saga.exceptions.ExecutorException"
    assert MODULE_NAMES["minos.saga.testing"]["Foo"] == "minos.saga.testing.Foo"


@pytest.mark.parametrize("module_name", sorted(MODULE_NAMES))
def test_module_level_names_of_0_7_0(module_name: str):
    """Every class and function of minos.saga a 0.7.0 module exposed is importable from it, and is the same
    object (defined under the same module and name) as in 0.7.0."""
    module = importlib.import_module(module_name)
    errors = []
    for name, origin in MODULE_NAMES[module_name].items():
        if not hasattr(module, name):
            errors.append(f"{name}: missing")
            continue
        value = getattr(module, name)
        found = f"{value.__module__}.{value.__qualname__}"
        if found != origin:
            errors.append(f"{name}: is {found}, expected {origin}")
    assert not errors, f"{module_name}:\n  " + "\n  ".join(errors)
