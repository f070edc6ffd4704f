"""Small real jobs whose runs the metrics must count."""

import dagster as dg


class Outcome(dg.Config):
    fail: bool = False
    sleep_seconds: float = 0.0


@dg.op
def work(config: Outcome) -> None:
    import time

    time.sleep(config.sleep_seconds)
    if config.fail:
        raise RuntimeError("this run fails on purpose")


@dg.job(name="monitoring_test_job", tags={"cleanops/pipeline": "monitoring-test"})
def test_job():
    work()


def run(instance, fail: bool = False, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """A real run; `tags` (e.g. `cleanops/pipeline`) are added to the job's."""
    return test_job.execute_in_process(instance=instance, raise_on_error=False, tags=tags,
                                       run_config={"ops": {"work": {"config": {"fail": fail}}}})


def run_pipeline(loaded, instance) -> dg.ExecuteInProcessResult:
    """A real run of a pipeline's ingestion assets, tagged as its job's runs are (policy.run_tags)."""
    from cleanops.ingestion.assets import build_source_asset
    from cleanops.scheduling.policy import run_tags
    from cleanops.warehouse import location_resources

    assets = [build_source_asset(loaded, source) for source in loaded.spec.data_sources]
    return dg.materialize(assets, instance=instance, tags=run_tags(loaded.spec), raise_on_error=False,
                          resources=location_resources(),
                          run_config={"ops": {a.op.name: {"config": {"full_refresh": True}} for a in assets}})


def csv_pipeline(pipelines_dir, make_pipeline, pipeline_id: str, schedule: dict | None = None):
    """A pipeline loading a small CSV (one row rejected) from the test's pipelines folder."""
    data = pipelines_dir / "data"
    data.mkdir(exist_ok=True)
    rows = "".join(f"{i},user{i}@example.com\n" for i in range(1, 21))
    (data / "users.csv").write_text("user_id,email\n" + rows + "21,not-an-email\n")
    return make_pipeline({"pipeline_id": pipeline_id,
                          "data_sources": [{"id": "users", "type": "csv", "path": "data/*.csv"}],
                          "transformations": [{"type": "validation", "config": {
                              "required_fields": ["user_id"], "data_types": {"email": "email"}}}],
                          **({"schedule": schedule} if schedule else {})})


class CheckOutcome(dg.Config):
    passed: bool = True


@dg.asset(key=["monitoring_test", "checked"],
          check_specs=[dg.AssetCheckSpec("rows_valid", asset=dg.AssetKey(["monitoring_test", "checked"]),
                                         blocking=True),
                       dg.AssetCheckSpec("rows_plausible", asset=dg.AssetKey(["monitoring_test", "checked"]))])
def checked_asset(config: CheckOutcome):
    """A blocking (ERROR) and a warning (WARN) check with the outcome the run config asks for."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="rows_valid", passed=config.passed, severity=dg.AssetCheckSeverity.ERROR)
    yield dg.AssetCheckResult(check_name="rows_plausible", passed=config.passed, severity=dg.AssetCheckSeverity.WARN)


def materialize_checked(instance, pipeline: str, passed: bool):
    return dg.materialize([checked_asset], instance=instance, raise_on_error=False,
                          tags={"cleanops/pipeline": pipeline},
                          run_config={"ops": {"monitoring_test__checked": {"config": {"passed": passed}}}})


class Loaded(dg.Config):
    read: int = 100
    rejected: int = 0


@dg.asset(key=["staging", "monitoring_test__rows"])
def loaded_asset(config: Loaded) -> dg.MaterializeResult:
    """Counts as an ingestion asset reports them."""
    return dg.MaterializeResult(metadata={"records_extracted": config.read, "records_rejected": config.rejected,
                                          "records_loaded": config.read - config.rejected})


def materialize_loaded(instance, pipeline: str, read: int, rejected: int):
    return dg.materialize([loaded_asset], instance=instance, tags={"cleanops/pipeline": pipeline},
                          run_config={"ops": {"staging__monitoring_test__rows": {"config": {"read": read,
                                                                                            "rejected": rejected}}}})
