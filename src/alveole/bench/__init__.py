"""Benchmarks: each returns plain data (JSON-ready) measured in one run, baselines included."""
