"""Observability wiring of the project (it sees every domain's facade, like urls.py; no domain imports it).

- `middleware.py`: request id, log context, HTTP metrics and the request span.
- `instrumentation.py`: facade call timing and spans, order counters (from the outbox's publish hook).
- `collectors.py`: gauges computed at scrape time (outbox lag, dead letters, heartbeats, breakers).
- `views.py`: `/metrics`.
"""
