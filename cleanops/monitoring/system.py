"""Host figures from psutil: CPU, memory, the disk holding CLEANOPS_HOME, network throughput.

CPU and network are measured over one short sample (`sample_seconds`, 0.5 s by default)
taken during the collection itself, so a collection needs no state from the previous one
and the CLI and the asset report the same thing.
"""

from __future__ import annotations

import os
import time

import psutil

DEFAULT_SAMPLE_SECONDS = 0.5


def disk_usage_percent(path: str | os.PathLike) -> float | None:
    """Used share of the file system holding `path`; None when it cannot be stat'ed (missing, no access)."""
    try:
        return round(psutil.disk_usage(os.fspath(path)).percent, 2)
    except (OSError, ValueError):
        return None


def _network_bytes() -> int | None:
    try:
        counters = psutil.net_io_counters()
    except (OSError, RuntimeError):
        return None
    return counters.bytes_sent + counters.bytes_recv if counters else None


def sample(sample_seconds: float = DEFAULT_SAMPLE_SECONDS) -> tuple[float, float | None]:
    """CPU percent and network bytes/s (sent + received, all interfaces) over one sample."""
    psutil.cpu_percent(interval=None)  # starts the CPU interval
    before, started = _network_bytes(), time.monotonic()
    time.sleep(max(sample_seconds, 0.05))
    cpu = psutil.cpu_percent(interval=None)
    after, elapsed = _network_bytes(), time.monotonic() - started
    rate = (after - before) / elapsed if before is not None and after is not None and elapsed > 0 else None
    return cpu, rate


def system_metrics(disk_path: str | os.PathLike, sample_seconds: float = DEFAULT_SAMPLE_SECONDS) -> dict:
    """The host half of `system_metrics` (the Dagster half, active pipelines and queued runs, is added by collect)."""
    cpu, bytes_per_second = sample(sample_seconds)
    return {
        "cpu_usage_percent": round(cpu, 2),
        "memory_usage_percent": round(psutil.virtual_memory().percent, 2),
        "disk_usage_percent": disk_usage_percent(disk_path),
        "network_io_mbps": None if bytes_per_second is None else round(bytes_per_second * 8 / 1e6, 3),
        "network_io_bytes_per_second": None if bytes_per_second is None else round(bytes_per_second, 1),
    }
