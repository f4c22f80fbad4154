"""Benchmark of the memory engine against plain numpy, FAISS and hnswlib, side by side.

Run it with `inv memory.bench` (or `python -m memory.bench`); figures are printed as a
table and written as JSON, never asserted.
"""
