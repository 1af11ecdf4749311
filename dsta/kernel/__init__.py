"""Shared kernel: outbox/inbox, event envelope and handlers, relay, domain router, broker, clock, pipelined SQL,
RPC. Imports no domain."""
