"""The api worker: the fleet over HTTP (docs/api.md).

Not a stream processor: no consumer group, no transactions. One process holds an idempotent
producer for admissions, a group-less tail of regime.events (the regime table and the SSE
fan-out), and a gauge of the ingest group's lag (429 backpressure), behind an ASGI app.
"""
