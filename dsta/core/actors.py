"""Dramatiq actors and event handlers of the core domain (notifications arrive with issue 7)."""
