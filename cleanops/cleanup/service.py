"""The whole cleanup, phase by phase; the CLI calls `run_cleanup`, the Dagster job calls
the same phase functions one op at a time.

audit (scan) -> retention check -> dependency analysis -> safe deletion -> verification
-> audit log. A dry run stops after dependency analysis and records what it would
delete (action `would_delete`) and what it keeps and why (action `keep`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from cleanops.cleanup import audit, plan, policies
from cleanops.cleanup.execute import ExecutionTotals, Executor
from cleanops.cleanup.lock import cleanup_lock
from cleanops.cleanup.models import CleanupOptions
from cleanops.cleanup.verify import VerificationReport, verify

GB = 1024 ** 3


@dataclass
class CleanupResult:
    cleanup_id: str
    options: CleanupOptions
    status: str = "running"
    found: dict = field(default_factory=dict)
    excluded: int = 0
    candidates: list[dict] = field(default_factory=list)   # dry run: what would be deleted (up to list_limit)
    candidate_count: int = 0
    kept: list[dict] = field(default_factory=list)
    totals: ExecutionTotals | None = None
    verification: VerificationReport | None = None
    interrupted: list[str] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)      # policies refused when loaded: data_type, reason

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "completed_with_errors")

    def metrics(self) -> dict:
        """The seed's cleanup metrics, as plotted in the Dagster UI."""
        t = self.totals or ExecutionTotals()
        reclaimed = t.bytes_deleted - t.archive_bytes + t.archives_purged_bytes
        file_bytes_cleaned = t.bytes_deleted
        return {"files_removed": t.files_removed, "data_cleaned_gb": round(file_bytes_cleaned / GB, 6),
                "storage_reclaimed_gb": round(reclaimed / GB, 6), "cleanup_operations": t.deleted,
                "runs_deleted": t.runs_deleted, "rows_deleted": t.rows_deleted, "skipped": t.skipped,
                "failed": t.failed}

    def to_dict(self) -> dict:
        return {"cleanup_id": self.cleanup_id, "type": self.options.cleanup_type, "dry_run": self.options.dry_run,
                "archive": self.options.archive, "status": self.status, "found_by_data_type": self.found,
                "excluded": self.excluded, "candidate_count": self.candidate_count,
                "candidates": self.candidates, "kept": self.kept,
                "totals": self.totals.to_dict() if self.totals else None, "metrics": self.metrics(),
                "verification": self.verification.to_dict() if self.verification else None,
                "interrupted_cleanups_found": self.interrupted, "refused_policies": self.refused}


def start(warehouse: sa.Engine, options: CleanupOptions,
          downstream_built_at: Callable[[str], datetime | None] | None = None,
          instance_engine: Callable[[], sa.Engine] | None = None) -> plan.CleanupSession:
    """Seed missing policies, register the cleanup and return its session."""
    policies.seed(warehouse)
    session = plan.CleanupSession(audit.new_cleanup_id(options.now), options, warehouse,
                                  downstream_built_at=downstream_built_at, instance_engine_factory=instance_engine)
    session.save()
    location = None if options.dry_run or not options.archive else str(session.work_dir)
    audit.start_run(warehouse, session.cleanup_id, options, location)
    return session


def analyse(session: plan.CleanupSession, result: CleanupResult) -> None:
    """Phases 1-3: audit (scan), retention check, dependency analysis."""
    result.found = dict(plan.scan_phase(session))
    result.refused = plan.read_refused(session)
    result.excluded = plan.retention_phase(session) + plan.dependency_phase(session)


def record_dry_run(session: plan.CleanupSession, result: CleanupResult, list_limit: int | None) -> None:
    """Audit what a run would delete and what it keeps; fill the listing for the caller."""
    excluded = plan.read_excluded(session)
    batch: list[audit.AuditAction] = []
    for candidate in plan.read_candidates(session.path(plan.PLAN)):
        if candidate.key in excluded:
            action = audit.AuditAction(candidate, "keep", "planned", reason=excluded[candidate.key])
            if list_limit is None or len(result.kept) < list_limit:
                result.kept.append({"data_type": candidate.data_type, "object": candidate.display,
                                    "reason": excluded[candidate.key]})
        else:
            action = audit.AuditAction(candidate, "would_delete", "planned")
            result.candidate_count += 1
            if list_limit is None or len(result.candidates) < list_limit:
                result.candidates.append({"data_type": candidate.data_type, "kind": candidate.kind,
                                          "object": candidate.display, "size": candidate.size,
                                          "reason": candidate.reason})
        batch.append(action)
        if len(batch) >= 5000:
            audit.write_actions(session.warehouse, session.cleanup_id, session.options, batch)
            batch = []
    audit.write_actions(session.warehouse, session.cleanup_id, session.options, batch)


def safe_deletion(session: plan.CleanupSession, result: CleanupResult,
                  progress: Callable[[int], None] | None = None) -> None:
    result.totals = Executor(session, progress).run()


def verification(session: plan.CleanupSession, result: CleanupResult, planned_count: int | None = None) -> None:
    result.verification = verify(session, planned_count=planned_count)


def finish(session: plan.CleanupSession, result: CleanupResult) -> None:
    """Phase 6, audit log: the cleanup's status and metrics on its cleanup_runs row.

    A policy refused when loaded makes the cleanup `completed_with_errors`, so the CLI exits 1
    and the Dagster run fails: a bad root or retention stored in the table does not go unnoticed.
    """
    result.refused = plan.read_refused(session)
    failed = (result.totals and result.totals.failed) or (result.verification and not result.verification.ok) \
        or result.refused
    result.status = "completed_with_errors" if failed else "completed"
    audit.finish_run(session.warehouse, session.cleanup_id, result.status, {
        "metrics": result.metrics(), "totals": result.totals.to_dict() if result.totals else None,
        "verification": result.verification.to_dict() if result.verification else None,
        "found": result.found, "excluded": result.excluded, "refused_policies": result.refused})
    if session.options.dry_run or not session.options.archive:
        plan.remove_work_dir(session)


def run_cleanup(warehouse: sa.Engine, options: CleanupOptions, *, list_limit: int | None = 200,
                progress_factory: Callable[[int], Callable[[int], None]] | None = None,
                downstream_built_at: Callable[[str], datetime | None] | None = None,
                instance=None, confirm: Callable[[CleanupResult], bool] | None = None) -> CleanupResult:
    """Every phase under the advisory lock; returns the result (status failed on any failed action).

    `confirm`, when given, is asked after the analysis (with the candidate count) and
    before anything is deleted; answering no ends the cleanup as `cancelled`.
    """
    with cleanup_lock(warehouse):
        interrupted = audit.mark_interrupted(warehouse, options)
        session = start(warehouse, options, downstream_built_at)
        if instance is not None:
            session._instance = instance
        result = CleanupResult(session.cleanup_id, options, interrupted=interrupted)
        try:
            analyse(session, result)
            if options.dry_run:
                record_dry_run(session, result, list_limit)
            else:
                total = sum(result.found.values()) - result.excluded
                result.candidate_count = total
                if confirm is not None and not confirm(result):
                    result.status = "cancelled"
                    audit.finish_run(warehouse, session.cleanup_id, "cancelled", {"found": result.found})
                    plan.remove_work_dir(session)
                    return result
                safe_deletion(session, result, progress_factory(total) if progress_factory else None)
                verification(session, result, planned_count=total)
            finish(session, result)
        except BaseException as error:
            result.status = "failed"
            audit.finish_run(warehouse, session.cleanup_id, "failed", {"error": repr(error)})
            raise
        return result


def summary_counts(result: CleanupResult) -> Counter:
    return Counter(c["data_type"] for c in result.candidates)
