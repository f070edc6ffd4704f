"""Database lifecycle, connections and migrations."""
