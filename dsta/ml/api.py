"""Facade of the ml domain. Its functions arrive with issue 8 (features, registry, predictions)."""
