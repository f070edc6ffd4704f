"""Cleanup and retention: preview, archive, dependency checks, verification, audit, restore.

Every cleanup goes through the same phases, whether the CLI or the Dagster `cleanup` job
starts it: audit (scan, list candidates with a reason each) -> retention check ->
dependency analysis -> safe deletion (archive first, bounded batches) -> verification ->
audit log. Each phase lives in its own module; `service.py` strings them together.
"""
