"""Dramatiq actors and event handlers of the data domain (ingestion jobs arrive with market-data sync)."""
