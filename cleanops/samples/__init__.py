"""Sample data for the shipped pipelines, made on demand (nothing large is committed)."""
