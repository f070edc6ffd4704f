"""Phase 4, safe deletion: archive first, then delete in bounded batches, one commit each.

The plan is read as a stream and cut into batches of `batch_size` objects of one kind.
Each batch is archived, deleted, then audited (COPY) and appended to results.jsonl before
the next one starts; an optional rate limit sleeps between batches. A cleanup killed
between batches therefore leaves every finished batch archived and audited, and the
next cleanup simply finds fewer candidates.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import groupby

import sqlalchemy as sa

from cleanops import settings
from cleanops.cleanup import files, runs, warehouse
from cleanops.cleanup.archive import FileArchive, archive_table_name, cleanup_dir
from cleanops.cleanup.audit import AuditAction, utcnow, write_actions
from cleanops.cleanup.models import Candidate
from cleanops.cleanup.plan import RESULTS, CleanupSession, planned


@dataclass
class ExecutionTotals:
    planned: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    files_removed: int = 0
    runs_deleted: int = 0
    rows_deleted: int = 0
    bytes_deleted: int = 0
    archive_bytes: int = 0
    archives_purged_bytes: int = 0
    batches: list[int] = field(default_factory=list)  # objects (or rows) per committed batch

    def to_dict(self) -> dict:
        data = asdict(self)
        data["batch_count"] = len(self.batches)
        data["largest_batch"] = max(self.batches, default=0)
        del data["batches"]
        return data


def batches(candidates: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    """Consecutive candidates of one kind, at most `size` at a time."""
    for _, group in groupby(candidates, key=lambda c: c.kind):
        batch: list[Candidate] = []
        for candidate in group:
            batch.append(candidate)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


class Executor:
    """Runs one cleanup's plan batch by batch; remembers which runs went, so their compute
    logs follow them and the logs of a run that stayed are kept."""

    def __init__(self, session: CleanupSession, progress: Callable[[int], None] | None = None):
        self.session = session
        self.options = session.options
        self.progress = progress
        self.totals = ExecutionTotals()
        self.archiver = FileArchive(session.cleanup_id) if self.options.archive else None
        self.deleted_runs: set[str] = set()
        self.kept_runs: set[str] = set()
        self._protected: set[str] | None = None

    def run(self) -> ExecutionTotals:
        _raise_open_file_limit(2 * self.options.batch_size + 64)
        throttle = settings.current().cleanup_throttle() or self.options.rate_limit or 0
        try:
            with open(self.session.path(RESULTS), "a", encoding="utf-8") as results:
                for batch in batches(planned(self.session), self.options.batch_size):
                    started = time.monotonic()
                    actions = self._handle(batch)
                    write_actions(self.session.warehouse, self.session.cleanup_id, self.options, actions)
                    for action in actions:
                        results.write(json.dumps(_result(action)) + "\n")
                    results.flush()
                    if self.progress:
                        self.progress(len(batch))
                    if throttle:
                        time.sleep(max(0.0, len(batch) / throttle - (time.monotonic() - started)))
        finally:
            if self.archiver:
                self.archiver.close()
                self.totals.archive_bytes = self.archiver.bytes_written
        return self.totals

    def _handle(self, batch: list[Candidate]) -> list[AuditAction]:
        kind = batch[0].kind
        self.totals.planned += len(batch)
        handler = {"file": self._files, "run": self._runs, "staged_batch": self._rows,
                   "quarantine_rows": self._rows, "event_rows": self._rows, "archive": self._archives}[kind]
        actions = handler(batch)
        for action in actions:
            if action.action == "deleted":
                self.totals.deleted += 1
                if kind in ("file", "run"):  # rows are counted in rows_deleted, not bytes
                    self.totals.bytes_deleted += action.size or 0
            elif action.status == "failed":
                self.totals.failed += 1
            else:
                self.totals.skipped += 1
        return actions

    # -- files ---------------------------------------------------------------------------

    def _files(self, batch: list[Candidate]) -> list[AuditAction]:
        started = utcnow()
        actions: list[AuditAction | None] = []
        deletable = []
        for candidate in batch:
            if candidate.owner and candidate.owner not in self.deleted_runs and self._run_exists(candidate.owner):
                actions.append(AuditAction(candidate, "skipped", "skipped", reason=f"its run {candidate.owner} was kept",
                                           size=0, started_at=started))
            elif "original" in candidate.extra and not files.original_unchanged(candidate):
                actions.append(AuditAction(candidate, "skipped", "skipped", size=0, started_at=started,
                                           reason="the original it duplicates changed or is gone"))
            else:
                actions.append(None)
                deletable.append(candidate)
        outcomes = iter(files.delete_batch(deletable, self.archiver))
        for index, candidate in enumerate(batch):
            if actions[index] is None:
                actions[index] = self._file_action(candidate, next(outcomes), started)
        self.totals.batches.append(len(batch))
        return actions

    def _file_action(self, candidate: Candidate, outcome: files.FileOutcome, started) -> AuditAction:
        if outcome.status != "deleted":
            return AuditAction(candidate, outcome.status, outcome.status, reason=outcome.detail,
                               error=outcome.detail if outcome.status == "failed" else None, size=0,
                               started_at=started)
        self.totals.files_removed += 1
        entry = outcome.archived or {}
        location = str(self.archiver.folder / entry["archived"]) if entry else None
        return AuditAction(candidate, "deleted", "ok", archive_location=location, checksum=entry.get("sha256"),
                           started_at=started)

    def _run_exists(self, run_id: str) -> bool:
        if run_id in self.kept_runs:
            return True
        with self.session.instance_engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM runs WHERE run_id = :id"), {"id": run_id}) > 0

    # -- runs ----------------------------------------------------------------------------

    def _runs(self, batch: list[Candidate]) -> list[AuditAction]:
        if self._protected is None:
            self._protected = runs.protected_run_ids(self.session.instance_engine)
        started = utcnow()
        try:
            outcome = runs.delete_batch(self.session.instance_engine, self.session.cleanup_id, batch,
                                        self.options.archive, self._protected, self.session.instance)
        except Exception as error:  # the batch's transaction rolled back: nothing of it changed
            self.kept_runs.update(c.key for c in batch)
            return [AuditAction(c, "failed", "failed", error=str(error), size=0, started_at=started) for c in batch]
        self.totals.batches.append(len(batch))
        location = f"instance database: cleanops_archive.{archive_table_name('public', 'runs')}" \
            if self.options.archive else None
        actions = []
        for candidate in batch:
            status, detail, size = outcome[candidate.key]
            if status == "deleted":
                self.deleted_runs.add(candidate.key)
                self.totals.runs_deleted += 1
                actions.append(AuditAction(candidate, "deleted", "ok", reason=detail or None,
                                           archive_location=None if detail else location, size=size,
                                           started_at=started))
            else:
                self.kept_runs.add(candidate.key)
                actions.append(AuditAction(candidate, "skipped", "skipped", reason=detail, size=0, started_at=started))
        return actions

    # -- warehouse rows ------------------------------------------------------------------

    def _rows(self, batch: list[Candidate]) -> list[AuditAction]:
        actions = []
        for candidate in batch:
            started = utcnow()
            try:
                if candidate.kind == "event_rows":
                    rows = runs.delete_event_rows(self.session.instance_engine, self.session.cleanup_id, candidate,
                                                  self.options.batch_size, self.options.archive,
                                                  on_chunk=self.totals.batches.append)
                else:
                    rows = warehouse.delete_rows(self.session.warehouse, self.session.cleanup_id, candidate,
                                                 self.options.batch_size, self.options.archive,
                                                 on_chunk=self.totals.batches.append)
            except Exception as error:
                actions.append(AuditAction(candidate, "failed", "failed", error=str(error), size=0, started_at=started))
                continue
            self.totals.rows_deleted += rows
            schema, table = (("public", "event_logs") if candidate.kind == "event_rows"
                             else (candidate.extra["schema"], candidate.extra["table"]))
            database = "instance database" if candidate.kind == "event_rows" else "warehouse"
            location = (f"{database}: cleanops_archive.{archive_table_name(schema, table)}"
                        if self.options.archive else None)
            actions.append(AuditAction(candidate, "deleted", "ok", archive_location=location, size=rows,
                                       reason=f"{candidate.reason}; {rows} rows deleted", started_at=started))
        return actions

    # -- old archives (cleanup_backups) -------------------------------------------------------

    def _archives(self, batch: list[Candidate]) -> list[AuditAction]:
        actions = []
        for candidate in batch:
            started = utcnow()
            try:
                purge_archive(self.session, candidate.key)
            except Exception as error:
                actions.append(AuditAction(candidate, "failed", "failed", error=str(error), size=0, started_at=started))
                continue
            self.totals.archives_purged_bytes += candidate.size
            self.totals.batches.append(1)
            actions.append(AuditAction(candidate, "deleted", "ok", started_at=started))
        return actions


def purge_archive(session: CleanupSession, cleanup_id: str) -> None:
    """Drop one old cleanup's archived rows (both databases, bounded batches) and its folder."""
    for engine in (session.warehouse, session.instance_engine):
        with engine.connect() as conn:
            if conn.scalar(sa.text("SELECT to_regclass('cleanops_archive.archive_tables')")) is None:
                continue
            tables = conn.scalars(sa.text("SELECT archive_table FROM cleanops_archive.archive_tables")).all()
            prep = conn.dialect.identifier_preparer
        for table in tables:
            quoted = f"cleanops_archive.{prep.quote(table)}"
            while True:
                with engine.begin() as conn:
                    deleted = conn.execute(sa.text(
                        f"DELETE FROM {quoted} WHERE ctid IN (SELECT ctid FROM {quoted} WHERE _cleanup_id = :id "
                        "LIMIT :n)"), {"id": cleanup_id, "n": session.options.batch_size}).rowcount
                if deleted < session.options.batch_size:
                    break
    folder = cleanup_dir(cleanup_id)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    with session.warehouse.begin() as conn:
        conn.execute(sa.text("UPDATE cleanops.cleanup_runs SET archive_expired_at = now() WHERE cleanup_id = :id"),
                     {"id": cleanup_id})


def _raise_open_file_limit(needed: int) -> None:
    """A file batch keeps its files open (and locked) until the archive is durable."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard) if hard != resource.RLIM_INFINITY else needed,
                                                    hard))


def _result(action: AuditAction) -> dict:
    c = action.candidate
    return {"key": c.key, "kind": c.kind, "data_type": c.data_type, "path": c.path, "ino": c.ino,
            "action": action.action, "status": action.status, "detail": action.reason if action.action != "deleted"
            else None, "size": action.size if action.size is not None else c.size, "checksum": action.checksum,
            "archive_location": action.archive_location, "extra": c.extra}
