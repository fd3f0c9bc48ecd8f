"""Benchmarks with their peers, run by hand; results in BENCHMARKS.md."""
