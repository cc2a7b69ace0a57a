"""Persistence: schema, queries and the gallery's change counter (no pixels here)."""
