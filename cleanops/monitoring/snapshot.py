"""One collection of metrics: the seed's `metrics.json` shape, plus figures under new keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

GROUPS = ("system_metrics", "pipeline_metrics", "cleanup_metrics")


@dataclass
class MetricsSnapshot:
    """Figures keyed by group; a figure that could not be measured is None (null in JSON)."""

    timestamp: datetime
    window_seconds: int
    system_metrics: dict[str, float | int | None] = field(default_factory=dict)
    pipeline_metrics: dict[str, float | int | None] = field(default_factory=dict)
    cleanup_metrics: dict[str, float | int | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The seed's keys first, in its order; `window_seconds` says what `*_24h` covers."""
        stamp = self.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"timestamp": stamp, **{group: dict(getattr(self, group)) for group in GROUPS},
                "window_seconds": self.window_seconds}

    def figures(self) -> dict[str, float | int]:
        """Every measured figure by its (unique) name, for metadata and gauges."""
        return {name: value for group in GROUPS for name, value in getattr(self, group).items()
                if value is not None}
