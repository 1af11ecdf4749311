"""Dramatiq actors of the exchange domain."""
