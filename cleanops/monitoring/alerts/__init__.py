"""Alerts: rules over the Dagster instance's events, their lifecycle in `cleanops.alerts`,
and the notifications sent about them (docs/monitoring.md, "Alerts")."""
