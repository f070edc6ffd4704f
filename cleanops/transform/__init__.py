"""Transformation: pipeline steps compiled into dbt models, run by dagster-dbt in the asset graph."""
