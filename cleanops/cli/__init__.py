"""The `cleanops` command: what the Dagster UI and CLI do not cover."""
