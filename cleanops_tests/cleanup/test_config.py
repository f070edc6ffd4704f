"""The cleanup job's run config is made from `CleanupOptions`: each option is declared once."""

import dataclasses

import dagster as dg

from cleanops.cleanup import definitions
from cleanops.cleanup.models import DEFAULT_EMERGENCY_FACTOR, CleanupOptions


def test_the_config_has_one_field_per_run_option():
    options = {field.name for field in dataclasses.fields(CleanupOptions)} - {"started_by", "now"}
    assert set(definitions.CleanupConfig.model_fields) == options
    assert issubclass(definitions.CleanupConfig, dg.Config)


def test_defaults_come_from_the_options_except_what_a_scheduled_run_changes():
    config = definitions.CleanupConfig()
    assert config.emergency_factor == DEFAULT_EMERGENCY_FACTOR
    assert (config.batch_size, config.rate_limit, config.archive, config.data_types) == (500, 0.0, True, None)
    assert (config.cleanup_type, config.dry_run) == ("automatic", False)  # the CLI's default is a dry run
    assert (CleanupOptions().cleanup_type, CleanupOptions().dry_run) == ("manual", True)


def test_options_are_built_from_the_config():
    config = definitions.CleanupConfig(cleanup_type="emergency", emergency_factor=0.25, data_types=["logs"])
    options = definitions.cleanup_options(config, started_by="dagster run r1")
    assert (options.cleanup_type, options.emergency_factor, options.data_types, options.started_by) == \
        ("emergency", 0.25, ["logs"], "dagster run r1")
    assert options.dry_run is False and options.now is not None


def test_the_job_binds_the_lock_and_the_warehouse_and_takes_the_run_config():
    assert {"cleanup_lock", "warehouse"} <= set(definitions.cleanup_job.resource_defs)
    validated = dg.validate_run_config(definitions.cleanup_job, definitions.run_config("automatic"))
    assert validated["ops"]["audit"]["config"]["dry_run"] is False
