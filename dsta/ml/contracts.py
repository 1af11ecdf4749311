"""Frozen dataclasses that cross the ml domain's boundary (features, models, predictions: issue 8)."""
