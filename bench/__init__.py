"""Benchmarks, run from the checkout as `python -m bench.NAME`; each writes a report in reports/."""
