"""Benchmarks of releaf-pipeline: one night's collection, a backfill and the accounting.

`python -m benchmarks.run` (or `make bench`) runs every scenario and prints one JSON
document; see the README's "Performance" section.
"""
