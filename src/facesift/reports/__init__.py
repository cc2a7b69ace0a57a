"""Renderers shared by every interface: files written for the user, CSV, text for terminals."""
