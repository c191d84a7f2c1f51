"""Benchmarks built from real images (fakes written exactly like the reals)."""
