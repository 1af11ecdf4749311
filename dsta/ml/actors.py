"""Dramatiq actors and event handlers of the ml domain."""
