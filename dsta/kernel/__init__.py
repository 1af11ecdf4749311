"""Shared kernel: outbox/inbox, event envelope, domain router, money, clock, ids. Imports no domain."""
