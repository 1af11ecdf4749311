"""DSTA: Dr. Strange Trading Analysis, a Django modular monolith of five domains."""
