"""Use cases that tie media, vision, matching and the store together."""
