"""`cleanops/settings.py` is the only reader of CLEANOPS_* variables: defaults, overrides read at
call time, errors naming the variable, and a walk of the code that keeps it the only one."""

import ast
from pathlib import Path

import pytest

import cleanops
from cleanops import settings
from cleanops.cleanup.models import DEFAULT_EMERGENCY_FACTOR, CleanupError, emergency_factor_setting

PACKAGE = Path(cleanops.__file__).parent


def _module_constants(tree: ast.Module) -> dict[str, ast.AST]:
    """Module-level `NAME = <expression>` and one-line `def name(...): return <expression>`, so a
    read through a constant (`VARIABLE = "CLEANOPS_X"`) or a name helper (`variable(name)`) counts."""
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}
    for node in tree.body:
        body = [statement for statement in getattr(node, "body", []) if not isinstance(statement, ast.Expr)]
        if isinstance(node, ast.FunctionDef) and len(body) == 1 and isinstance(body[0], ast.Return):
            constants[node.name] = body[0].value
    return constants


def _literal_prefix(node: ast.AST, constants: dict[str, ast.AST] | None = None) -> str | None:
    """The text a name starts with: a string constant, an f-string's leading constant part, or
    a module constant holding either."""
    constants = constants or {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        node = node.func
    if isinstance(node, ast.Name) and node.id in constants:
        return _literal_prefix(constants[node.id], {k: v for k, v in constants.items() if k != node.id})
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_prefix(node.left, constants)
    return None


def _is_environ(node: ast.AST) -> bool:
    """`os.environ` or a bare `environ` (from os import environ)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _read_name(node: ast.AST) -> ast.AST | None:
    """The name argument of an environment read: environ.get(x), os.getenv(x), environ[x], x in environ."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") and _is_environ(func.value):
            return node.args[0] if func.attr == "get" else None
        if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"):
            return node.args[0]
    if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
        return node.slice
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In) \
            and _is_environ(node.comparators[0]):
        return node.left
    return None


def own_variable_reads(source: str) -> list[tuple[int, str]]:
    """(line, name) of each read of a variable whose name starts with CLEANOPS_."""
    found = []
    tree = ast.parse(source)
    constants = _module_constants(tree)
    for node in ast.walk(tree):
        name = _read_name(node)
        prefix = _literal_prefix(name, constants) if name is not None else None
        if prefix is not None and prefix.startswith(settings.PREFIX):
            found.append((node.lineno, prefix))
    return found


def test_only_settings_reads_cleanops_variables():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    offending = [f"{file.relative_to(PACKAGE.parent)}:{line} reads {name}"
                 for file in files if file != PACKAGE / "settings.py"
                 for line, name in own_variable_reads(file.read_text())]
    assert offending == []


@pytest.mark.parametrize("source", [
    'os.environ.get("CLEANOPS_X")',
    'os.environ.get("CLEANOPS_X", "1")',
    'os.getenv("CLEANOPS_X")',
    'getenv("CLEANOPS_X")',
    'os.environ["CLEANOPS_X"]',
    'environ["CLEANOPS_X"]',
    'os.environ[f"CLEANOPS_CONN_{name}"]',
    'os.environ.get(f"CLEANOPS_CONN_{name.upper()}")',
    'os.environ.get("CLEANOPS_CONN_" + name)',
    '"CLEANOPS_X" in os.environ',
    'def f():\n    return int(os.environ.get("CLEANOPS_X") or 0)',
    'VARIABLE = "CLEANOPS_X"\ndef f():\n    return os.environ.get(VARIABLE, "15")',
    'def variable(name):\n    return "CLEANOPS_CONN_" + name.upper()\nos.environ.get(variable(name))',
])
def test_the_walk_finds_each_form_of_read(source):
    """The check above would pass on a walk that finds nothing: make sure it finds each form."""
    assert [name for _, name in own_variable_reads(source)] and \
        own_variable_reads(source)[0][1].startswith("CLEANOPS_")


@pytest.mark.parametrize("source", [
    'os.environ["CLEANOPS_HOME"] = str(path)',           # writing, for a subprocess
    'os.environ.update({"CLEANOPS_HOME": "x"})',
    'os.environ.get("PATH")',
    'os.environ.get(name)',
])
def test_the_walk_ignores_writes_and_other_variables(source):
    assert own_variable_reads(source) == []


_OWN = ["CLEANOPS_HOME", "CLEANOPS_PIPELINES_DIR", "CLEANOPS_DBT_PROJECT_DIR", "CLEANOPS_DATABASE_URL",
        "CLEANOPS_INSTANCE_DATABASE_URL", "CLEANOPS_CLEANUP_ROOTS", "CLEANOPS_DESTINATION_SCHEMAS",
        "CLEANOPS_SOURCE_ROOTS", "CLEANOPS_HMAC_KEY", "CLEANOPS_SAMPLE_SOURCE_DATABASE",
        "CLEANOPS_DEPENDENCY_INTERVAL_SECONDS", "CLEANOPS_CLEANUP_TIMEZONE", "CLEANOPS_CLEANUP_RATE_LIMIT",
        "CLEANOPS_EMERGENCY_DISK_PERCENT", "CLEANOPS_EMERGENCY_DISK_PATH", "CLEANOPS_EMERGENCY_FACTOR",
        "CLEANOPS_USER", "CLEANOPS_METRICS_INTERVAL_MINUTES"] + [
            "CLEANOPS_" + name for name in (
                "NOTIFY_SMTP_URL", "NOTIFY_DEFAULT_TO", "NOTIFY_WEBHOOK_URL", "NOTIFY_ATTEMPTS",
                "NOTIFY_BACKOFF_SECONDS", "ALERT_DISABLED_RULES", "UI_URL", "ALERT_SLOW_RUN_FACTOR",
                "ALERT_SLOW_RUN_MIN_SECONDS", "ALERT_REJECTED_SHARE", "ALERT_DISK_PERCENT", "ALERT_MEMORY_PERCENT")]


@pytest.fixture
def clean_env(monkeypatch):
    for name in _OWN:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_field_is_a_cleanops_variable():
    assert sorted(settings.variable(name) for name in settings.Settings.model_fields) == sorted(_OWN)


def test_defaults(clean_env):
    current = settings.current()
    assert settings.home() == settings.PROJECT_ROOT / ".cleanops"
    assert settings.pipelines_dir() == settings.PROJECT_ROOT / "pipelines"
    assert settings.dbt_project_dir() == settings.PROJECT_ROOT / "cleanops_dbt"
    assert settings.external_database_url() is None and settings.instance_database_url() is None
    assert settings.cleanup_roots() == [] and settings.destination_schemas() == () and settings.source_roots() == ()
    assert settings.hmac_key() is None
    assert current.cleanup_timezone == "UTC"
    assert current.emergency_disk_threshold() == 90.0
    assert current.dependency_interval() == 15
    assert current.cleanup_throttle() is None
    assert current.sample_source_database == "cleanops_sample_source"
    assert emergency_factor_setting() == DEFAULT_EMERGENCY_FACTOR


def test_overrides_are_read_at_each_call(clean_env, tmp_path):
    clean_env.setenv("CLEANOPS_HOME", str(tmp_path / "a"))
    assert settings.home() == tmp_path / "a"
    clean_env.setenv("CLEANOPS_HOME", str(tmp_path / "b"))
    assert settings.home() == tmp_path / "b" and settings.paths().archives == tmp_path / "b" / "archives"
    clean_env.setenv("CLEANOPS_DESTINATION_SCHEMAS", " reporting, ,finance ")
    clean_env.setenv("CLEANOPS_EMERGENCY_DISK_PERCENT", "75.5")
    clean_env.setenv("CLEANOPS_DEPENDENCY_INTERVAL_SECONDS", "5")
    clean_env.setenv("CLEANOPS_CLEANUP_RATE_LIMIT", "20")
    clean_env.setenv("CLEANOPS_EMERGENCY_FACTOR", "0.25")
    clean_env.setenv("CLEANOPS_CLEANUP_TIMEZONE", "Europe/Berlin")
    assert settings.destination_schemas() == ("reporting", "finance")
    current = settings.current()
    assert (current.emergency_disk_threshold(), current.dependency_interval(), current.cleanup_throttle()) == \
        (75.5, 5, 20.0)
    assert current.cleanup_timezone == "Europe/Berlin"
    assert emergency_factor_setting() == 0.25


def test_connection_variables(clean_env):
    clean_env.setenv("CLEANOPS_CONN_SALES_DB", "sqlite:///x.db")
    assert settings.connection_variable("sales-db") == "CLEANOPS_CONN_SALES_DB"
    assert settings.connection_variable_value("sales-db") == "sqlite:///x.db"
    assert settings.connection_variable_value("other") is None
    assert settings.own_variables()["CLEANOPS_CONN_SALES_DB"] == "sqlite:///x.db"


@pytest.mark.parametrize("variable, ask", [
    ("CLEANOPS_EMERGENCY_DISK_PERCENT", lambda s: s.emergency_disk_threshold()),
    ("CLEANOPS_DEPENDENCY_INTERVAL_SECONDS", lambda s: s.dependency_interval()),
    ("CLEANOPS_CLEANUP_RATE_LIMIT", lambda s: s.cleanup_throttle()),
])
def test_a_malformed_number_names_its_variable_when_asked_for(clean_env, variable, ask):
    clean_env.setenv(variable, "lots")
    current = settings.current()  # other settings still work
    assert current.home_folder() == settings.PROJECT_ROOT / ".cleanops"
    with pytest.raises(ValueError, match=f"{variable} must be a .*number, not 'lots'"):
        ask(current)


def test_a_bad_emergency_factor_keeps_its_message(clean_env):
    clean_env.setenv("CLEANOPS_EMERGENCY_FACTOR", "2")
    with pytest.raises(CleanupError, match=r"CLEANOPS_EMERGENCY_FACTOR must be a number in \(0, 1\], not '2'"):
        emergency_factor_setting()
