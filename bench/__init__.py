"""Benchmarks behind every speed and memory claim; `make bench` writes docs/benchmarks.md."""
