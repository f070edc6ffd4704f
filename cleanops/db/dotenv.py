"""The `.env` file that Dagster's own commands read, so `dg` and `dagster` find the instance.

`dg list defs`, `dg check defs`, `dg dev` and `dagster dev` load `.env` from the working
directory before they open the Dagster instance, whose dagster.yaml reads its database URL
and storage folders from the environment. `cleanops db start` writes the file in the
project root, so those commands work in a fresh shell after `make run`.

Every line reads `NAME="${NAME:-value}"`: a variable already set in the environment wins,
so a shell prepared with `eval "$(cleanops env)"` for another home or server, and the test
suite's own instance, are never redirected by a file left behind. A value that would carry
a password is not written (secrets stay in the environment): with a password-protected
server, run `eval "$(cleanops env)"` first.
"""

from __future__ import annotations

from pathlib import Path

from cleanops import settings
from cleanops.db.connection import DatabaseTarget, export_environment

FILE_NAME = ".env"
BEGIN = "# >>> written by `cleanops db start` for dg and dagster; variables set in the environment win"
END = "# <<< end of what `cleanops db start` writes"
UNSAFE_CHARACTERS = set('"\\$}`\n\r')


# Variables made from the server's URL, which carries its password when it has one.
CARRY_THE_PASSWORD = {"CLEANOPS_INSTANCE_URL", "CLEANOPS_WAREHOUSE_URL", "CLEANOPS_PG_PASSWORD"}


def dotenv_lines(target: DatabaseTarget) -> list[str]:
    """One line per exported variable that is safe to keep in a file."""
    password = str(target.libpq_params()["password"])
    lines = []
    for name, value in export_environment(target).items():
        if password and (name in CARRY_THE_PASSWORD or password in value):
            lines.append(f"# {name}: not written (it carries the server's password); "
                         "run eval \"$(cleanops env)\"")
        elif UNSAFE_CHARACTERS.isdisjoint(value):
            lines.append(f'{name}="${{{name}:-{value}}}"')
        else:
            lines.append(f"# {name}: not written (its value has characters a .env file cannot hold)")
    return lines


def write_dotenv(target: DatabaseTarget, folder: Path | None = None) -> Path:
    """Write CleanOps' block of the project's `.env`, keeping every other line a user put there."""
    path = (folder or settings.PROJECT_ROOT) / FILE_NAME
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = _without_our_block(old) + "\n".join([BEGIN, *dotenv_lines(target), END]) + "\n"
    if new != old:
        path.write_text(new, encoding="utf-8")
    return path


def _without_our_block(text: str) -> str:
    kept, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == BEGIN:
            inside = True
        elif line.rstrip("\n") == END and inside:
            inside = False
        elif not inside:
            kept.append(line if line.endswith("\n") else line + "\n")
    return "".join(kept)
