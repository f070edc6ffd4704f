"""`cleanops-dbt`: dbt's own command line, except that `--version` answers at once.

dagster-dbt runs `<dbt_executable> --version` before every dbt invocation to learn which
dbt it drives. dbt-core's `--version` asks PyPI for the latest dbt-core and for each
adapter (one request each, one-second timeout), which took 7 s here and more without
network. This command is dbt's entry point (`dbt.cli.main:cli`) for everything else, and
answers `--version` from the installed dbt-core package, in the format dbt prints. CleanOps
passes it as the public `DbtCliResource.dbt_executable`.
"""

from __future__ import annotations

import sys


def version_text() -> str:
    from dbt.version import __version__

    return f"Core:\n  - installed: {__version__}\n"


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(version_text())
        return
    from dbt.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
