"""The Dagster side of cleanup: the `cleanup` job, its daily schedule and the emergency
disk sensor. The ops are the seed's phases and call the same functions as the CLI.

The job runs in one process (in_process_executor) so that the `cleanup_lock` resource
(`CleanupLock`) can hold the PostgreSQL advisory lock from the first phase to the last: two
cleanups, whether started by the schedule, the sensor or the CLI, never overlap. The ops take
the lock and the `warehouse` resource as parameters; the run's options are `CleanupConfig`,
made from the fields of `CleanupOptions` (the CLI's), so each option is declared once.

Settings (`cleanops.settings`, read when the code location loads or the sensor ticks):
- CLEANOPS_CLEANUP_TIMEZONE: time zone of the daily 02:00 schedule (default UTC);
- CLEANOPS_EMERGENCY_DISK_PERCENT: disk usage that triggers an emergency cleanup (90);
- CLEANOPS_EMERGENCY_FACTOR: how much an emergency shortens retention (0.5 = halves it);
- CLEANOPS_EMERGENCY_DISK_PATH: the folder whose file system is watched (CLEANOPS_HOME).
"""

# no `from __future__ import annotations`: Dagster reads the op and config annotations at run time

import dataclasses
import json
import os
import shutil
import typing
from contextlib import contextmanager
from datetime import datetime, timezone

import dagster as dg
import pydantic

from cleanops import settings
from cleanops.cleanup.models import CleanupOptions
from cleanops.warehouse import WarehouseResource

JOB_NAME = "cleanup"
METRICS_ASSET = dg.AssetKey(["cleanops", "cleanup"])


def emergency_threshold() -> float:
    return settings.current().emergency_disk_threshold()


def emergency_factor() -> float:
    """CLEANOPS_EMERGENCY_FACTOR, checked: a bad value fails the sensor tick with a message naming it."""
    from cleanops.cleanup.models import emergency_factor_setting

    return emergency_factor_setting()


def cleanup_timezone() -> str:
    return settings.current().cleanup_timezone


# Options a run does not take from config: who started it (the run) and when (now).
_NOT_CONFIG = ("started_by", "now")
# A scheduled or sensor run deletes unless told otherwise; the CLI defaults to a dry run.
_RUN_DEFAULTS = {"cleanup_type": "automatic", "dry_run": False}


def _config_class() -> type[dg.Config]:
    """`CleanupConfig`: the run config of the `audit` op, one field per option of `CleanupOptions`."""
    hints = typing.get_type_hints(CleanupOptions)
    fields = {field.name: (hints[field.name], _RUN_DEFAULTS.get(field.name, field.default))
              for field in dataclasses.fields(CleanupOptions) if field.name not in _NOT_CONFIG}
    return pydantic.create_model("CleanupConfig", __base__=dg.Config, __module__=__name__,
                                 __doc__="Options of one cleanup run (the CLI's flags).", **fields)


CleanupConfig = _config_class()


def cleanup_options(config: CleanupConfig, started_by: str) -> CleanupOptions:
    return CleanupOptions(**config.model_dump(), started_by=started_by)


class CleanupLock(dg.ConfigurableResource):
    """Holds the cleanup advisory lock on the warehouse for the whole run (migrated first)."""

    warehouse: dg.ResourceDependency[WarehouseResource]

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        from cleanops.cleanup.lock import cleanup_lock as hold_lock
        from cleanops.db import migrate

        engine = self.warehouse.engine()
        migrate.migrate(engine)
        with hold_lock(engine):
            yield self


def _session(work_dir: str, warehouse: WarehouseResource):
    from cleanops.cleanup.plan import CleanupSession

    return CleanupSession.load(work_dir, warehouse.engine(), instance_engine=warehouse.instance_engine)


def _save(work_dir: str, name: str, data: dict) -> None:
    with open(os.path.join(work_dir, name), "w") as handle:
        json.dump(data, handle, default=str)


def _read(work_dir: str, name: str) -> dict | None:
    path = os.path.join(work_dir, name)
    return json.load(open(path)) if os.path.exists(path) else None


@dg.op(out=dg.Out(str))
def audit(context: dg.OpExecutionContext, config: CleanupConfig, cleanup_lock: CleanupLock,
          warehouse: WarehouseResource) -> str:
    """Phase 1: scan every enabled policy and list candidates with the reason for each."""
    from cleanops.cleanup import audit as audit_log
    from cleanops.cleanup import plan, service

    engine = warehouse.engine()
    options = cleanup_options(config, started_by=f"dagster run {context.run_id}")
    interrupted = audit_log.mark_interrupted(engine, options)
    session = service.start(engine, options, instance_engine=warehouse.instance_engine)
    found = plan.scan_phase(session)
    context.log.info(f"cleanup {session.cleanup_id}: found {dict(found)}; interrupted before: {interrupted}")
    _save(str(session.work_dir), "found.json", {"found": dict(found), "interrupted": interrupted})
    return str(session.work_dir)


@dg.op(out=dg.Out(str))
def retention_check(context: dg.OpExecutionContext, work_dir: str, cleanup_lock: CleanupLock,
                    warehouse: WarehouseResource) -> str:
    """Phase 2: keep-last rules and age re-checks."""
    from cleanops.cleanup import plan

    excluded = plan.retention_phase(_session(work_dir, warehouse))
    context.log.info(f"retention check kept {excluded} candidates")
    return work_dir


def _location_asset_graph(context: dg.OpExecutionContext):
    """The asset graph of the code location the run came from; None for a job executed on its own
    (`execute_in_process` outside a Definitions), where Dagster sets no repository."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # noqa: BLE001 - dagster raises an invariant CheckError when no repository is set
        return None


@dg.op(out=dg.Out(str))
def dependency_analysis(context: dg.OpExecutionContext, work_dir: str, cleanup_lock: CleanupLock,
                        warehouse: WarehouseResource) -> str:
    """Phase 3: keep runs holding latest materializations and batches still needed downstream."""
    from cleanops.cleanup import plan

    session = _session(work_dir, warehouse)
    graph = _location_asset_graph(context)
    if graph is not None:  # the run's own code location: no second build of the definitions
        session.downstream_built_at = plan.downstream_built_at_in(graph, context.instance)
    excluded = plan.dependency_phase(session)
    context.log.info(f"dependency analysis kept {excluded} candidates")
    return work_dir


@dg.op(out=dg.Out(str))
def safe_deletion(context: dg.OpExecutionContext, work_dir: str, cleanup_lock: CleanupLock,
                  warehouse: WarehouseResource) -> str:
    """Phase 4: archive, then delete in bounded batches (a dry run records what it would do)."""
    from cleanops.cleanup import service

    session = _session(work_dir, warehouse)
    result = service.CleanupResult(session.cleanup_id, session.options)
    if session.options.dry_run:
        service.record_dry_run(session, result, list_limit=0)
        _save(work_dir, "dry_run.json", {"candidate_count": result.candidate_count})
    else:
        service.safe_deletion(session, result)
        _save(work_dir, "totals.json", result.totals.to_dict() | {"batches": result.totals.batches})
        context.log.info(f"deleted {result.totals.deleted}, skipped {result.totals.skipped}, "
                         f"failed {result.totals.failed}")
    return work_dir


@dg.op(out=dg.Out(str))
def verification(context: dg.OpExecutionContext, work_dir: str, cleanup_lock: CleanupLock,
                 warehouse: WarehouseResource) -> str:
    """Phase 5: deleted objects gone, archives readable with matching checksums, counts reconcile."""
    from cleanops.cleanup.verify import verify

    session = _session(work_dir, warehouse)
    if not session.options.dry_run:
        report = verify(session)
        _save(work_dir, "verification.json", report.to_dict())
        if not report.ok:
            context.log.error(f"verification found problems: {report.problems[:10]}")
    return work_dir


@dg.op
def audit_log(context: dg.OpExecutionContext, work_dir: str, cleanup_lock: CleanupLock,
              warehouse: WarehouseResource) -> dg.Nothing:
    """Phase 6: the cleanup's status and the seed's metrics, plotted by the Dagster UI."""
    from cleanops.cleanup import service
    from cleanops.cleanup.execute import ExecutionTotals
    from cleanops.cleanup.verify import VerificationReport

    session = _session(work_dir, warehouse)
    result = service.CleanupResult(session.cleanup_id, session.options)
    result.found = (_read(work_dir, "found.json") or {}).get("found", {})
    totals = _read(work_dir, "totals.json")
    if totals:
        known = set(ExecutionTotals.__dataclass_fields__)
        result.totals = ExecutionTotals(**{k: v for k, v in totals.items() if k in known})
    verified = _read(work_dir, "verification.json")
    if verified:
        result.verification = VerificationReport(verified["checked"], verified["problems"])
        result.verification.problems += ["..."] * (verified["problem_count"] - len(verified["problems"]))
    result.candidate_count = (_read(work_dir, "dry_run.json") or {}).get("candidate_count", 0)
    service.finish(session, result)
    metrics = result.metrics()
    context.log_event(dg.AssetMaterialization(
        asset_key=METRICS_ASSET, description=f"cleanup {session.cleanup_id} ({session.options.cleanup_type})",
        metadata={**{k: dg.MetadataValue.float(float(v)) if isinstance(v, float) else dg.MetadataValue.int(v)
                     for k, v in metrics.items()},
                  "cleanup_id": dg.MetadataValue.text(session.cleanup_id),
                  "cleanup_type": dg.MetadataValue.text(session.options.cleanup_type),
                  "dry_run": dg.MetadataValue.bool(session.options.dry_run),
                  "status": dg.MetadataValue.text(result.status)}))
    if result.failed:
        raise dg.Failure(f"cleanup {session.cleanup_id} finished with errors; see `cleanops cleanup history`",
                         metadata={"cleanup_id": session.cleanup_id})


_job_warehouse = WarehouseResource()


@dg.job(name=JOB_NAME, executor_def=dg.in_process_executor,
        resource_defs={"warehouse": _job_warehouse, "cleanup_lock": CleanupLock(warehouse=_job_warehouse)},
        tags={"cleanops/area": "cleanup"},
        description="Audit -> retention check -> dependency analysis -> safe deletion -> verification -> audit log.")
def cleanup_job():
    audit_log(verification(safe_deletion(dependency_analysis(retention_check(audit())))))


def run_config(cleanup_type: str = "automatic", **options) -> dict:
    """The job's run config; only an emergency reads CLEANOPS_EMERGENCY_FACTOR (so a bad value
    cannot break loading the code location or the daily schedule)."""
    if cleanup_type == "emergency" and "emergency_factor" not in options:
        options["emergency_factor"] = emergency_factor()
    return {"ops": {"audit": {"config": {"cleanup_type": cleanup_type, **options}}}}


def disk_usage_percent(path: str | os.PathLike) -> float:
    usage = shutil.disk_usage(path)
    return 100.0 * usage.used / usage.total if usage.total else 0.0


def _watched_path() -> str:
    path = settings.current().emergency_disk_path or str(settings.paths().home)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


@dg.sensor(name="cleanup_emergency_disk", job=cleanup_job, minimum_interval_seconds=300,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts an emergency cleanup (retention shortened, every safety check kept) when the "
                       "disk holding CLEANOPS_HOME is fuller than CLEANOPS_EMERGENCY_DISK_PERCENT.")
def emergency_disk_sensor(context: dg.SensorEvaluationContext):
    path = _watched_path()
    used = disk_usage_percent(path)
    threshold = emergency_threshold()
    if used <= threshold:
        return dg.SkipReason(f"{path}: disk {used:.1f}% used, threshold {threshold:g}%")
    hour = datetime.now(timezone.utc).strftime("%Y%m%dT%H")
    return dg.RunRequest(run_key=f"emergency-{hour}", run_config=run_config("emergency"),
                         tags={"cleanops/cleanup_type": "emergency", "cleanops/disk_percent": f"{used:.1f}"})


def build_schedule() -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="cleanup_daily", job=cleanup_job, cron_schedule="0 2 * * *", execution_timezone=cleanup_timezone(),
        run_config=run_config("automatic"), default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Daily automatic cleanup at 02:00 (CLEANOPS_CLEANUP_TIMEZONE, default UTC).")


def build(result=None) -> dg.Definitions:
    """The cleanup area (cleanops/defs/cleanup/); `result` (the pipelines) changes nothing here."""
    return dg.Definitions(jobs=[cleanup_job], schedules=[build_schedule()], sensors=[emergency_disk_sensor])
