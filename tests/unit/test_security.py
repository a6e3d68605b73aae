"""Security checks that read the code: nothing from outside is unpickled or torch.load-ed,
SQL is only ever built with bound parameters, secrets come from the environment, resume text
is never handed to a logger, and model artifacts are checked by sha256 before loading."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for folder in ("trustq", "migrations", "benchmarks")
    for p in (ROOT / folder).rglob("*.py")
    if "__pycache__" not in p.parts
)


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in SOURCES:
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve"}
UNSAFE_CALLS = {"torch.load", "pickle.load", "pickle.loads", "yaml.load", "yaml.unsafe_load"}


def test_nothing_is_unpickled_or_torch_loaded() -> None:
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [_where(path, node) for a in node.names if a.name in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and node.module in UNSAFE_MODULES:
                found.append(_where(path, node))
            elif isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name in UNSAFE_CALLS or name in ("eval", "exec"):
                    found.append(f"{_where(path, node)} {name}()")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        found.append(f"{_where(path, node)} allow_pickle")
    assert not found, found


def test_the_broker_speaks_json_only() -> None:
    from trustq.config import Settings
    from trustq.worker.app import create_app

    app = create_app(Settings(broker_url="redis://127.0.0.1:1/0", database_url="postgresql://x"))
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == app.conf.result_serializer == "json"


def _builds_a_string(node: ast.AST) -> bool:
    """An f-string, a % or + on strings, or a .format() call: text assembled at run time."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return any(
            isinstance(side, ast.Constant | ast.JoinedStr) and isinstance(side.value, str)
            if isinstance(side, ast.Constant)
            else isinstance(side, ast.JoinedStr)
            for side in (node.left, node.right)
        )
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


SQL_ENTRY_POINTS = {"text", "execute", "exec_driver_sql", "executemany", "literal_column"}


def test_sql_is_never_assembled_from_strings() -> None:
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = _dotted(node.func).rsplit(".", 1)[-1]
            if name in SQL_ENTRY_POINTS and _builds_a_string(node.args[0]):
                found.append(f"{_where(path, node)} {name}(…)")
    assert not found, f"SQL built from strings (use bound parameters): {found}"


CREDENTIAL_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:[^\s@/'\"$]+@")
SECRET_NAMES = re.compile(r"(password|passwd|secret|api_key|token)$", re.IGNORECASE)


def test_no_secret_is_written_in_the_code() -> None:
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if CREDENTIAL_URL.search(node.value):
                    found.append(f"{_where(path, node)} credential in a URL")
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, ast.keyword) and node.arg:
                targets, value = [ast.Name(node.arg)], node.value
            for target in targets:
                name = _dotted(target).rsplit(".", 1)[-1]
                if (
                    SECRET_NAMES.search(name)
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value
                ):
                    found.append(f"{_where(path, node)} {name} = '…'")
    assert not found, found


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from trustq.config import Settings

    for name in ("TRUSTQ_DATABASE_URL", "TRUSTQ_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().database_url is None and Settings().broker_url is None
    monkeypatch.setenv("TRUSTQ_DATABASE_URL", "postgresql://u:from-env@db/x")
    assert Settings().database_url == "postgresql://u:from-env@db/x"


LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
PERSONAL = {"resume_text", "text", "payload", "profile", "profiles", "description"}


def _walk_values(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a logging argument, except inside len() and type(): a count or a type
    name says nothing personal."""
    yield node
    if isinstance(node, ast.Call) and _dotted(node.func) in ("len", "type"):
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_values(child)


def test_no_logger_is_handed_resume_text_or_a_profile() -> None:
    found = []
    for path, tree in _trees():
        if path.parts[-2] == "benchmarks":
            continue
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and _dotted(node.func.value).rsplit(".", 1)[-1] in ("log", "logger", "logging")
            ):
                continue
            for arg in [*node.args[1:], *(k.value for k in node.keywords)]:
                for inner in _walk_values(arg):
                    name = (
                        inner.attr
                        if isinstance(inner, ast.Attribute)
                        else inner.id
                        if isinstance(inner, ast.Name)
                        else inner.value
                        if isinstance(inner, ast.Constant) and isinstance(inner.value, str)
                        else None
                    )
                    if name in PERSONAL:
                        found.append(f"{_where(path, node)} logs {name}")
    assert not found, found


def test_model_artifacts_are_loaded_only_after_their_sha256_is_checked() -> None:
    """safetensors is read in one function, which compares the sha256 first; every caller
    passes the sha256 stored with the model version."""
    loaders, calls = [], []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [_dotted(c.func) for c in ast.walk(node) if isinstance(c, ast.Call)]
                if "st_load" in names or "safetensors.torch.load" in names:
                    loaders.append((path.name, node.name, names))
            if isinstance(node, ast.Call) and _dotted(node.func).endswith("deserialise"):
                calls.append((_where(path, node), len(node.args) + len(node.keywords)))
    assert [(p, f) for p, f, _ in loaders] == [("artifact.py", "deserialise")]
    names = loaders[0][2]
    assert names.index("sha256_hex") < names.index("st_load")
    assert calls and all(n >= 2 for _, n in calls), calls

    from trustq.models.artifact import ArtifactError, deserialise

    with pytest.raises(ArtifactError, match="sha256"):
        deserialise(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "0" * 64)
