"""Monitoring: one collection of system, pipeline and cleanup metrics, stored and rendered.

`collect.collect` is the only way figures are gathered; the `cleanops_metrics` asset
(`definitions.py`) and `cleanops metrics` both call it. Importing this package loads
nothing; `cleanops metrics` imports Dagster (through `pipelines.py`) only when it collects.
"""
