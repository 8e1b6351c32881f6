"""Benchmarks: programs that print figures against baselines measured in the same run (``make bench``)."""
