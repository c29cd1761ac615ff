"""The benchmark harness: real sinks, real workers, the service on PostgreSQL, and the baselines.

`python -m bench --help` (or `make bench`) runs it; docs/PERFORMANCE.md holds the figures.
"""
