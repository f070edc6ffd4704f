"""Monitoring: one collection of system, pipeline and cleanup metrics, stored and rendered.

`collect.collect` is the only way figures are gathered; the `cleanops_metrics` asset
(`definitions.py`) and `cleanops metrics` both call it. Nothing here imports Dagster at
import time except `definitions.py`.
"""
