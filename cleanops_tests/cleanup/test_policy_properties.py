"""Property-based tests of the cleanup config path: roots and retention values in any spelling.

The oracles are independent of the code under test: a hard-coded list of denied places,
checked on the resolved path the validator hands back.
"""

from __future__ import annotations

import math
import os
import tempfile
from decimal import Decimal
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanops import settings
from cleanops.cleanup import policies, roots
from cleanops.cleanup.models import CleanupOptions, PolicyError
from cleanops.cli.cleanup import RetentionDays

SYSTEM = ("/etc", "/usr", "/bin", "/sbin", "/boot", "/proc", "/sys", "/dev", "/var/lib")

# A private folder with links to denied places, made once (hypothesis runs a test body many times).
LINKS = Path(tempfile.mkdtemp(prefix="cleanops-root-properties-"))
for name, target in {"to_root": "/", "to_etc": "/etc", "to_usr_lib": "/usr/lib", "to_var_lib": "/var/lib",
                     "to_proc": "/proc", "to_home": os.path.expanduser("~"), "to_dot": "."}.items():
    if not os.path.lexists(LINKS / name):
        os.symlink(target, LINKS / name)
(LINKS / "plain").mkdir(exist_ok=True)


def _is_denied(path: str) -> bool:
    """The oracle: places no cleanup root may be, inside or contain (a hard-coded restatement)."""
    home = os.path.realpath(os.path.expanduser("~"))
    whole = {"/", home, str(settings.PROJECT_ROOT), os.path.realpath(settings.paths().home)}
    trees = list(SYSTEM) + [f"/{n}" for n in os.listdir("/") if n.startswith("lib")]
    trees += [os.path.realpath(settings.paths().pgdata), os.path.realpath(settings.paths().dagster_storage)]
    if path in whole:
        return True
    for place in trees:
        if path == place or path.startswith(place + "/"):
            return not (place == "/var/lib" and path.startswith(os.path.realpath(settings.paths().home) + "/"))
    return any(place.startswith(path.rstrip("/") + "/") for place in list(whole - {"/"}) + trees)


parts = st.sampled_from(["", ".", "..", "etc", "usr", "lib", "lib64", "var", "lib", "proc", "sys", "dev", "boot",
                         "bin", "sbin", "root", "home", "tmp", "x", "é", "\u202e", "ｅｔｃ", " ", "~",
                         "{home}", "{temp}", "{dbt}", "{nope}", "{", "}", "\x00", "\udcff"])
separators = st.sampled_from(["/", "//", "/./", "///", "/../"])


@st.composite
def spelled_roots(draw) -> str:
    """Paths built from denied names, odd separators, placeholders and links to denied places."""
    start = draw(st.sampled_from(["/", "//", "", "./", str(LINKS) + "/", "{home}/", "{temp}/", "~/"]))
    pieces = draw(st.lists(st.tuples(parts, separators), max_size=5))
    path = start + "".join(part + sep for part, sep in pieces)
    if draw(st.booleans()):
        path = path.rstrip("/")
    return path + draw(st.sampled_from(["", "/", "to_root", "to_etc/ssl", "to_usr_lib", "to_var_lib/x", "to_proc",
                                        "to_home", "to_dot", "plain", "plain/"]))


root_values = st.one_of(spelled_roots(), st.text(max_size=40), st.sampled_from(["/", "//", "/./", "/etc/../"]))


def _check(root) -> str | None:
    try:
        return roots.check_root(root)
    except PolicyError as error:
        assert str(error) and error.field == "roots"
        return None


@given(root=root_values)
def test_properties_no_denied_root_is_ever_accepted(root):
    """Even with an allow-list of `/`: a root is refused (PolicyError only) or resolves outside every denied place."""
    previous = os.environ.get("CLEANOPS_CLEANUP_ROOTS")
    os.environ["CLEANOPS_CLEANUP_ROOTS"] = "/"
    try:
        accepted = _check(root)
    finally:
        if previous is None:
            os.environ.pop("CLEANOPS_CLEANUP_ROOTS")
        else:
            os.environ["CLEANOPS_CLEANUP_ROOTS"] = previous
    if accepted is not None:
        assert os.path.isabs(accepted) and "\x00" not in accepted
        assert not _is_denied(accepted), accepted
        assert not _is_denied(os.path.realpath(accepted)), accepted


@given(root=root_values)
def test_properties_accepted_roots_stay_inside_the_allow_list(root):
    accepted = _check(root)
    if accepted is not None:
        allowed = [os.path.realpath(p) for p in roots.own_folders() + settings.cleanup_roots()]
        for path in (accepted, os.path.realpath(accepted)):
            assert any(path == a or path.startswith(a + "/") for a in allowed), path


retention_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.booleans(), st.none(), st.sampled_from([1e308, -0.0, 36_500.0, 36_500.5, 0.5]))


@given(value=retention_values)
def test_properties_retention_is_a_finite_whole_number_in_range(value):
    try:
        days = policies.retention_days(value)
    except PolicyError as error:
        assert error.field == "retention_days" and "retention days" in str(error)
        return
    assert type(days) is int and 0 <= days <= policies.MAX_RETENTION_DAYS
    assert not isinstance(value, (bool, str)) and value == days


@given(text=st.one_of(st.text(max_size=20), retention_values.map(str)))
def test_properties_retention_days_option_refuses_with_a_usage_error(text):
    try:
        days = RetentionDays().convert(text, None, None)
    except click.BadParameter as error:
        assert str(error.message)
        return
    assert type(days) is int and 0 <= days <= policies.MAX_RETENTION_DAYS


@given(days=st.one_of(st.integers(0, policies.MAX_RETENTION_DAYS), st.sampled_from([36_500.0, Decimal("36500")])),
       factor=st.floats(min_value=0.0, max_value=1.0, exclude_min=True))
def test_properties_a_valid_policy_never_overflows_its_cutoff(days, factor):
    """Any retention validation accepts, shortened by any emergency factor, gives a cutoff (no OverflowError)."""
    policy = policies.Policy(data_type="temp_files", retention_days=days, kind="files", roots=["{temp}"])
    for kind in ("manual", "emergency"):
        cutoff = policies.validate(policy).cutoff(CleanupOptions(cleanup_type=kind, emergency_factor=factor))
        assert cutoff.year >= 1


@pytest.fixture(scope="module", autouse=True)
def _remove_links():
    yield
    for entry in LINKS.iterdir():
        entry.unlink() if entry.is_symlink() else entry.rmdir()
    LINKS.rmdir()


def test_properties_oracle_agrees_on_known_spellings():
    """The oracle itself: a few paths it must call denied, and a few it must not."""
    assert all(_is_denied(p) for p in ("/", "/etc", "/etc/x", "/usr", "/var", "/var/lib/x", "/proc/1"))
    assert not any(_is_denied(p) for p in ("/tmp/x", "/srv/data", "/opt/app/logs"))
    assert math.isfinite(float(Decimal("36500")))
