"""Running `cleanops` as a user does: a separate process, reading its stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cleanops import settings

CLEANOPS = Path(sys.executable).parent / "cleanops"


def cleanops(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The command with this test session's environment (database, pipelines folder, dbt project)."""
    return subprocess.run([str(CLEANOPS), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=settings.PROJECT_ROOT, env={**os.environ, **env})
