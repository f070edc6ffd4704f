"""`python -m cleanops.transform.prepare`: pipeline files → dbt models → manifest.

Run it after changing pipeline files or dbt models (make install/run do); the Dagster code
location then loads the manifest without parsing dbt.
"""

from __future__ import annotations

import sys

from cleanops.pipelines.loader import load_pipelines
from cleanops.transform.project import prepare


def main() -> int:
    result = load_pipelines()
    for error in result.errors:
        print(f"skipped: {error}", file=sys.stderr)
    manifest = prepare(result)
    print(f"dbt manifest ready: {manifest} ({len(result.pipelines)} pipeline(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
