"""The first three phases: audit (scan), retention check and dependency analysis.

Each phase works on files in the cleanup's work folder, so the Dagster ops can pass a
path from one to the next and memory stays flat however many candidates there are:

- `plan.jsonl`: every candidate the scanners found, with the reason for each (audit);
- `refused.jsonl`: policies refused when loaded (a denied root, out-of-range days), never scanned;
- `excluded.jsonl`: candidates a later phase decided to keep, with the reason
  (retention check: keep-last rules, a changed age; dependency analysis: a run that
  holds an asset's latest materialization, a batch something downstream still needs).

The objects to delete are exactly plan minus excluded; a dry run lists them and the
following run, scanning the same state, deletes the same set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from cleanops.cleanup import files, policies, runs, warehouse
from cleanops.cleanup.archive import cleanup_dir
from cleanops.cleanup.audit import AuditAction, write_actions
from cleanops.cleanup.models import Candidate, CleanupOptions

PLAN, EXCLUDED, RESULTS, STATE = "plan.jsonl", "excluded.jsonl", "results.jsonl", "state.json"
REFUSED = "refused.jsonl"


@dataclass
class CleanupSession:
    """One cleanup: its id, options and where its work files live, plus lazy connections."""

    cleanup_id: str
    options: CleanupOptions
    warehouse: sa.Engine
    downstream_built_at: Callable[[str], datetime | None] | None = None
    _instance: object = field(default=None, repr=False)
    instance_engine_factory: Callable[[], sa.Engine] | None = field(default=None, repr=False)
    _instance_engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def work_dir(self) -> Path:
        return cleanup_dir(self.cleanup_id)

    def path(self, name: str) -> Path:
        return self.work_dir / name

    @property
    def instance(self):
        if self._instance is None:
            self._instance = runs.dagster_instance()
        return self._instance

    @property
    def instance_engine(self) -> sa.Engine:
        if self._instance_engine is None:
            self._instance_engine = (self.instance_engine_factory or runs.instance_engine)()
        return self._instance_engine

    def save(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.path(STATE).write_text(json.dumps({"cleanup_id": self.cleanup_id, "options": self.options.to_dict()}))

    @classmethod
    def load(cls, work_dir: str | Path, warehouse_engine: sa.Engine,
             instance_engine: Callable[[], sa.Engine] | None = None) -> "CleanupSession":
        state = json.loads((Path(work_dir) / STATE).read_text())
        return cls(state["cleanup_id"], CleanupOptions.from_dict(state["options"]), warehouse_engine,
                   instance_engine_factory=instance_engine)


def read_candidates(path: Path) -> Iterator[Candidate]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield Candidate.from_json(line)


def read_excluded(session: CleanupSession) -> dict[str, str]:
    path = session.path(EXCLUDED)
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as handle:
        return {item["key"]: item["reason"] for item in map(json.loads, handle)}


def planned(session: CleanupSession) -> Iterator[Candidate]:
    """The candidates to delete: plan minus excluded, in plan order."""
    excluded = read_excluded(session)
    for candidate in read_candidates(session.path(PLAN)):
        if candidate.key not in excluded:
            yield candidate


def _exclude(handle, candidate: Candidate, reason: str) -> None:
    handle.write(json.dumps({"key": candidate.key, "data_type": candidate.data_type, "reason": reason}) + "\n")


# -- phase 1: audit (scan) --------------------------------------------------------------

def scan_phase(session: CleanupSession) -> Counter:
    """Write every candidate, with its reason, to plan.jsonl; returns counts by data type."""
    session.save()
    counts: Counter = Counter()
    order = {"runs": 0, "event_logs": 1, "files": 2, "duplicates": 2, "staged_batches": 3, "quarantine": 4,
             "archives": 5}
    valid, refused = policies.select(session.warehouse, session.options)
    record_refusals(session, refused)
    chosen = sorted(valid, key=lambda p: order.get(p.kind, 9))
    with open(session.path(PLAN), "w", encoding="utf-8") as out:
        run_ids: list[tuple[str, str]] = []
        for policy in chosen:
            for candidate in _scan(session, policy):
                out.write(candidate.to_json() + "\n")
                counts[candidate.data_type] += 1
                if candidate.kind == "run":
                    run_ids.append((candidate.key, candidate.data_type))
            if policy.kind == "runs" and run_ids:  # compute logs follow their runs in the plan
                for candidate in runs.compute_log_candidates([r for r, t in run_ids if t == policy.data_type],
                                                             policy.data_type):
                    out.write(candidate.to_json() + "\n")
                    counts[candidate.data_type] += 1
    return counts


def record_refusals(session: CleanupSession, refused: list[policies.Refusal]) -> None:
    """Write each refused policy to refused.jsonl and audit it (action `policy_refused`, status failed)."""
    with open(session.path(REFUSED), "w", encoding="utf-8") as out:
        for refusal in refused:
            out.write(json.dumps({"data_type": refusal.data_type, "reason": refusal.reason}) + "\n")
    actions = [AuditAction(Candidate(r.data_type, "policy", r.data_type, r.reason), "policy_refused", "failed",
                           reason=f"policy refused, nothing scanned: {r.reason}", error=r.reason, size=0)
               for r in refused]
    write_actions(session.warehouse, session.cleanup_id, session.options, actions)


def read_refused(session: CleanupSession) -> list[dict]:
    path = session.path(REFUSED)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _scan(session: CleanupSession, policy: policies.Policy) -> Iterator[Candidate]:
    cutoff = policy.cutoff(session.options)
    if policy.kind == "files":
        yield from files.scan_policy(policy, int(cutoff.timestamp() * 1e9))
    elif policy.kind == "duplicates":
        yield from files.scan_duplicates(policy, int(cutoff.timestamp() * 1e9))
    elif policy.kind == "runs":
        yield from runs.scan_policy(session.instance, policy, cutoff)
    elif policy.kind == "staged_batches":
        yield from warehouse.scan_staged(session.warehouse, policy, cutoff)
    elif policy.kind == "quarantine":
        yield from warehouse.scan_quarantine(session.warehouse, policy, cutoff)
    elif policy.kind == "archives":
        yield from scan_archives(session, policy, cutoff)
    elif policy.kind == "event_logs":
        yield from runs.scan_event_logs(session.instance_engine, policy, cutoff)


def scan_archives(session: CleanupSession, policy: policies.Policy, cutoff: datetime) -> Iterator[Candidate]:
    """Archives of finished cleanups older than the cutoff (never one still running)."""
    with session.warehouse.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT cleanup_id, finished_at, archive_location FROM cleanops.cleanup_runs WHERE NOT dry_run "
            "AND archive AND archive_expired_at IS NULL AND status <> 'running' AND finished_at < :cutoff "
            "AND cleanup_id <> :current ORDER BY finished_at"), {"cutoff": cutoff, "current": session.cleanup_id})
        for row in rows:
            folder = cleanup_dir(row.cleanup_id)
            size = sum(e.stat(follow_symlinks=False).st_size for e in os.scandir(folder / "files")) \
                if (folder / "files").is_dir() else 0
            yield Candidate(data_type=policy.data_type, kind="archive", key=row.cleanup_id, size=size,
                            reason=f"archive of a cleanup finished {row.finished_at.isoformat()}, "
                                   f"before the {policy.retention_days:g}-day cutoff",
                            extra={"folder": str(folder)})


# -- phase 2: retention check -------------------------------------------------------------

def retention_phase(session: CleanupSession) -> int:
    """Apply keep-last rules (runs: the newest N runs of each job, and their compute logs).

    Ages were applied by the scanners (the cutoff is part of each scan), so without a
    keep-last rule there is nothing to re-read.
    """
    keep_last = {p.data_type: p.keep_last for p in policies.selected(session.warehouse, session.options)
                 if p.keep_last}
    if not keep_last:
        return 0
    seen: Counter = Counter()
    kept_runs: set[str] = set()
    excluded = 0
    with open(session.path(EXCLUDED), "a", encoding="utf-8") as out:
        for candidate in read_candidates(session.path(PLAN)):
            reason = None
            if candidate.kind == "run" and keep_last.get(candidate.data_type):
                group = (candidate.data_type, candidate.extra.get("job"))
                seen[group] += 1
                if seen[group] <= keep_last[candidate.data_type]:
                    reason = f"one of the newest {keep_last[candidate.data_type]} runs of {group[1]} (keep_last)"
                    kept_runs.add(candidate.key)
            elif candidate.owner and candidate.owner in kept_runs:
                reason = f"compute log of run {candidate.owner}, which is kept"
            if reason:
                _exclude(out, candidate, reason)
                excluded += 1
    return excluded


# -- phase 3: dependency analysis ----------------------------------------------------------

def dependency_phase(session: CleanupSession) -> int:
    """Keep runs holding a latest materialization (and their logs) and batches still needed downstream."""
    kinds = {p.kind for p in policies.selected(session.warehouse, session.options)}
    if not kinds & {"runs", "staged_batches"}:
        return 0  # files, quarantine rows and old archives depend on nothing
    already = read_excluded(session)
    protected: set[str] | None = None
    built_at = session.downstream_built_at
    excluded = 0
    with open(session.path(EXCLUDED), "a", encoding="utf-8") as out:
        for candidate in read_candidates(session.path(PLAN)):
            if candidate.key in already:
                continue
            reason = None
            if candidate.kind == "run" or candidate.owner:
                if protected is None:
                    protected = runs.protected_run_ids(session.instance_engine)
                run_id = candidate.owner or candidate.key
                if run_id in protected:
                    reason = (f"run {run_id} holds the latest materialization of an asset or partition"
                              if candidate.kind == "run" else f"compute log of run {run_id}, which is kept")
            elif candidate.kind == "staged_batch":
                if built_at is None:  # outside a run (the CLI): build the location once, for its asset graph
                    from cleanops.definitions import build_definitions

                    built_at = downstream_built_at(build_definitions(), session.instance)
                    session.downstream_built_at = built_at
                reason = warehouse.blocked_by_downstream(candidate, built_at)
            if reason:
                _exclude(out, candidate, reason)
                excluded += 1
    return excluded


def downstream_built_at(defs, instance) -> Callable[[str], datetime | None]:
    """`downstream_built_at_in` over the asset graph of `defs`."""
    return downstream_built_at_in(defs.resolve_asset_graph(), instance)


def downstream_built_at_in(graph, instance) -> Callable[[str], datetime | None]:
    """For a staging table, when all the assets downstream of it were last built (the earliest), via
    the asset graph; None when nothing is downstream (then a later batch suffices)."""
    from cleanops.pipelines.naming import staging_table_key

    never = datetime.min.replace(tzinfo=timezone.utc)

    def built_at(table: str) -> datetime | None:
        key = staging_table_key(table)
        if not graph.has(key):
            return None
        children = graph.get_children(graph.get(key))
        times = []
        for child in children:
            event = instance.get_latest_materialization_event(child.key)
            times.append(datetime.fromtimestamp(event.timestamp, timezone.utc) if event else never)
        return min(times) if times else None

    return built_at


def remove_work_dir(session: CleanupSession) -> None:
    shutil.rmtree(session.work_dir, ignore_errors=True)
