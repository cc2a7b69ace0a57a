"""Pure functions on vectors: similarity, templates, vector indexes, decisions."""
