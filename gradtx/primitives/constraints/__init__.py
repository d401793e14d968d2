"""Constraints and normalizations of updates or params (centralize, non-negative params,
normalize by update norm, ...)."""

__all__: list[str] = []
