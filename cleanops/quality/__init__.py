"""Data quality: GE 1.x suites run in PostgreSQL as Dagster asset checks, history, quarantine review."""
